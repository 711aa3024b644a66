using System.Text;
using System.Text.Json.Nodes;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;

namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>
/// The IoT Hub double's built-in Event Hubs endpoint, driven first by the official Azure.Messaging.EventHubs client (its AMQP
/// stack, CBS authorization, management reads and receive filters), so the presence reader is later tested against an endpoint
/// the real client accepts. Connection-state events are checked against IoT Hub's documented non-telemetry event schema,
/// device-to-cloud messages against the system properties and property-bag split IoT Hub documents for telemetry.
/// </summary>
public sealed class EventHubsEndpointOfficialClientTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task The_official_client_reads_partitions_properties_and_events_from_each_start_position()
    {
        await using var endpoint = await EventHubsEndpointDouble.StartAsync();
        using var bound = new CancellationTokenSource(Bound);
        var partition = EventHubsEndpointDouble.PartitionIds[0];
        for (var i = 0; i < 3; i++)
            endpoint.Append(partition, Encoding.UTF8.GetBytes($"{{\"n\":{i}}}"), new Dictionary<string, object> { ["app"] = "p" + i },
                new Dictionary<string, object> { ["iothub-connection-device-id"] = "dev-a" });
        await using var consumer = new EventHubConsumerClient(EventHubConsumerClient.DefaultConsumerGroupName, endpoint.ConnectionString);

        Assert.Equal(EventHubsEndpointDouble.PartitionIds, await consumer.GetPartitionIdsAsync(bound.Token));
        var properties = await consumer.GetPartitionPropertiesAsync(partition, bound.Token);
        Assert.Equal(2, properties.LastEnqueuedSequenceNumber);
        Assert.False(properties.IsEmpty);
        Assert.True((await consumer.GetPartitionPropertiesAsync(EventHubsEndpointDouble.PartitionIds[1], bound.Token)).IsEmpty);

        var fromStart = await TakeAsync(consumer, partition, EventPosition.Earliest, 3, bound.Token);
        Assert.Equal([0L, 1L, 2L], fromStart.Select(e => e.SequenceNumber));
        Assert.Equal("{\"n\":1}", fromStart[1].EventBody.ToString());
        Assert.Equal("p1", fromStart[1].Properties["app"]);
        Assert.Equal("dev-a", fromStart[1].SystemProperties["iothub-connection-device-id"]);
        Assert.Equal([2L], (await TakeAsync(consumer, partition, EventPosition.FromSequenceNumber(1, isInclusive: false), 1, bound.Token)).Select(e => e.SequenceNumber));
        Assert.Equal([1L], (await TakeAsync(consumer, partition, EventPosition.FromSequenceNumber(1, isInclusive: true), 1, bound.Token)).Select(e => e.SequenceNumber));
        // The client asked with its own selector expressions, which the double parsed (not a default start).
        Assert.Contains("amqp.annotation.x-opt-sequence-number > 1", endpoint.ReceiverFilters);

        // From "new events only": nothing old, then an event appended while the link is open arrives.
        using var live = CancellationTokenSource.CreateLinkedTokenSource(bound.Token);
        var reading = TakeAsync(consumer, partition, EventPosition.Latest, 1, live.Token);
        // The link's start is fixed when it opens, unobserved; appending until the reader takes one proves "new only" either way.
        long appended = -1;
        while (!reading.IsCompleted)
        {
            appended = endpoint.Append(partition, "{}"u8.ToArray(), new Dictionary<string, object>(), new Dictionary<string, object>());
            await Task.WhenAny(reading, Task.Delay(200, bound.Token));
        }
        Assert.InRange((await reading)[0].SequenceNumber, 3, appended);
    }

    [Fact]
    public async Task A_wrong_key_is_refused_by_cbs_and_the_official_client_reports_it_as_unauthorized()
    {
        await using var endpoint = await EventHubsEndpointDouble.StartAsync();
        using var bound = new CancellationTokenSource(Bound);
        await using var consumer = new EventHubConsumerClient(EventHubConsumerClient.DefaultConsumerGroupName, endpoint.ConnectionStringWithWrongKey,
            new EventHubConsumerClientOptions { RetryOptions = new EventHubsRetryOptions { MaximumRetries = 0 } });
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => consumer.GetPartitionIdsAsync(bound.Token));
        Assert.True(endpoint.RefusedTokens > 0);
    }

    [Fact]
    public async Task A_device_that_connects_and_disconnects_yields_connection_state_events_in_the_documented_schema()
    {
        await using var hub = await IotHubDouble.StartAsync();
        hub.RouteConnectionStateEvents = true;
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-cs", Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } });
        await using (var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-cs", Credential = registered.Credential! }))
            await device.ConnectAsync();

        using var bound = new CancellationTokenSource(Bound);
        await using var consumer = new EventHubConsumerClient(EventHubConsumerClient.DefaultConsumerGroupName, hub.EventHubs!.ConnectionString);
        var events = await TakeAsync(consumer, EventHubsEndpointDouble.PartitionOf("dev-cs"), EventPosition.Earliest, 2, bound.Token);

        Assert.Equal(["deviceConnected", "deviceDisconnected"], events.Select(e => e.Properties["opType"]));
        foreach (var e in events)
        {
            Assert.Equal("deviceConnectionStateEvents", e.SystemProperties["iothub-message-source"]);
            Assert.Equal("dev-cs", e.SystemProperties["iothub-connection-device-id"]);
            Assert.Equal("dev-cs", e.Properties["deviceId"]);
            Assert.Equal("deviceConnectionStateNotification", e.Properties["iothub-message-schema"]);
            Assert.Equal("application/json", e.ContentType);
        }
        var sequence = events.Select(e => JsonNode.Parse(e.EventBody.ToString())!["sequenceNumber"]!.GetValue<string>()).ToList();
        Assert.All(sequence, s => Assert.Matches("^[0-9A-F]{64}$", s));
        Assert.True(string.CompareOrdinal(sequence[0], sequence[1]) < 0, "the later change has the larger sequence number");
    }

    [Fact]
    public async Task Device_to_cloud_messages_reach_the_official_client_in_order_on_the_device_partition_with_iot_hub_system_and_application_properties()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-tm", Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } });
        using var bound = new CancellationTokenSource(Bound);
        await using (var device = (AzureDeviceConnection)provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-tm", Credential = registered.Credential! }))
        {
            await device.ConnectAsync(bound.Token);
            // SendMessageAsync completes on PUBACK, which the double sends after appending: every message is on the endpoint after this.
            for (var i = 0; i < 5; i++)
                await device.SendMessageAsync(Encoding.UTF8.GetBytes($"{{\"n\":{i}}}"),
                    [new("$.mid", "m" + i), new("$.cid", "c" + i), new("$.ct", "application/json"), new("$.ce", "utf-8"), new("color", "red & blue"), new("n", i.ToString(System.Globalization.CultureInfo.InvariantCulture))],
                    bound.Token);
            // Through the telemetry pipeline too: the SDK's own topic (its $.mid, $.ct, $.ce) is split the same way.
            await device.SendTelemetryAsync(new TelemetryRecord("dev-tm", "level", 42, DateTimeOffset.UnixEpoch), bound.Token);
            await device.FlushAsync(bound.Token);
        }

        var partition = EventHubsEndpointDouble.PartitionOf("dev-tm");
        var other = EventHubsEndpointDouble.PartitionIds.Single(p => p != partition);
        await using var consumer = new EventHubConsumerClient(EventHubConsumerClient.DefaultConsumerGroupName, hub.EventHubs!.ConnectionString);
        var events = await TakeAsync(consumer, partition, EventPosition.Earliest, 6, bound.Token);
        Assert.True((await consumer.GetPartitionPropertiesAsync(other, bound.Token)).IsEmpty, "one device's messages stay on one partition");

        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"{{\"n\":{i}}}"), events.Take(5).Select(e => e.EventBody.ToString()));
        for (var i = 0; i < 5; i++)
        {
            var e = events[i];
            Assert.Equal("m" + i, e.MessageId);
            Assert.Equal("c" + i, e.CorrelationId);
            Assert.Equal("application/json", e.ContentType);
            Assert.Equal("utf-8", e.GetRawAmqpMessage().Properties.ContentEncoding);
            // Application properties come from the bag's plain keys, percent-decoded; no "$." key leaks into them.
            Assert.Equal("red & blue", e.Properties["color"]);
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Properties["n"]);
            Assert.DoesNotContain(e.Properties.Keys, k => k.StartsWith("$.", StringComparison.Ordinal));
        }
        foreach (var e in events)
        {
            Assert.Equal("Telemetry", e.SystemProperties["iothub-message-source"]);
            Assert.Equal("dev-tm", e.SystemProperties["iothub-connection-device-id"]);
            Assert.IsType<DateTime>(e.SystemProperties["iothub-enqueuedtime"]);
        }
        var batch = events[5];
        Assert.Equal("application/json", batch.ContentType);
        Assert.Matches("^[0-9a-f]+$", batch.MessageId);
        Assert.Equal(["level"], EventDataMapping.ToRecords(batch, out var problem).Select(r => r.Metric));
        Assert.Null(problem);
    }

    private static async Task<List<EventData>> TakeAsync(EventHubConsumerClient consumer, string partition, EventPosition position, int count, CancellationToken cancellationToken)
    {
        var taken = new List<EventData>();
        await foreach (var item in consumer.ReadEventsFromPartitionAsync(partition, position, cancellationToken))
        {
            taken.Add(item.Data);
            if (taken.Count == count) break;
        }
        return taken;
    }
}
