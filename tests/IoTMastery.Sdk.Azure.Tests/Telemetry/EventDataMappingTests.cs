using System.Text;
using Azure.Messaging.EventHubs;

namespace IoTMastery.Sdk.Azure.Tests.Telemetry;

/// <summary>
/// The mapping from built-in-endpoint events to records, on events built by the official EventHubsModelFactory (the read path
/// against the IoT Hub double's AMQP endpoint is in AzureTelemetryEndToEndTests).
/// </summary>
public sealed class EventDataMappingTests
{
    private static EventData Event(string body, string? deviceId) =>
        EventHubsModelFactory.EventData(new BinaryData(Encoding.UTF8.GetBytes(body)),
            systemProperties: deviceId is null ? new Dictionary<string, object>() : new Dictionary<string, object> { ["iothub-connection-device-id"] = deviceId },
            sequenceNumber: 7, offsetString: "7");

    [Fact]
    public void Device_id_comes_from_the_system_property_not_the_body()
    {
        var records = EventDataMapping.ToRecords(Event("""[{"d":"spoofed","m":"temp","v":21.5,"t":1700000000000},{"d":"spoofed","m":"hum","v":40,"t":1700000001000}]""", "dev1"), out var problem);
        Assert.Null(problem);
        Assert.Equal(2, records.Count);
        Assert.All(records, r => Assert.Equal("dev1", r.DeviceId));
        Assert.Equal("temp", records[0].Metric);
        Assert.Equal(21.5, records[0].Value);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1700000001000), records[1].Timestamp);
    }

    [Fact]
    public void A_single_object_body_is_one_record()
    {
        var records = EventDataMapping.ToRecords(Event("""{"d":"dev1","m":"temp","v":1,"t":1}""", "dev1"), out var problem);
        Assert.Null(problem);
        Assert.Single(records);
    }

    [Fact]
    public void Events_without_a_device_id_or_with_foreign_bodies_are_reported_not_thrown()
    {
        Assert.Empty(EventDataMapping.ToRecords(Event("[]", null), out var missing));
        Assert.Contains("iothub-connection-device-id", missing, StringComparison.Ordinal);
        Assert.Empty(EventDataMapping.ToRecords(Event("hello", "dev1"), out var foreign));
        Assert.NotNull(foreign);
    }

    [Theory]
    [InlineData("deviceConnectionStateEvents")]
    [InlineData("twinChangeEvents")]
    [InlineData("deviceLifecycleEvents")]
    public void Events_from_another_message_source_yield_nothing_and_are_not_a_problem(string source)
    {
        // A connection-state event's body is JSON but not a batch, and it carries a device id: only the source tells it apart.
        var data = EventHubsModelFactory.EventData(new BinaryData("""{"sequenceNumber":"00A1"}"""u8.ToArray()),
            systemProperties: new Dictionary<string, object> { ["iothub-connection-device-id"] = "dev1", ["iothub-message-source"] = source },
            sequenceNumber: 7, offsetString: "7");
        Assert.Empty(EventDataMapping.ToRecords(data, out var problem));
        Assert.Null(problem);
    }

    [Fact]
    public void Events_marked_as_telemetry_are_read()
    {
        var data = EventHubsModelFactory.EventData(new BinaryData("""[{"d":"x","m":"temp","v":2,"t":1}]"""u8.ToArray()),
            systemProperties: new Dictionary<string, object> { ["iothub-connection-device-id"] = "dev1", ["iothub-message-source"] = "Telemetry" },
            sequenceNumber: 7, offsetString: "7");
        Assert.Equal(["dev1"], EventDataMapping.ToRecords(data, out var problem).Select(r => r.DeviceId));
        Assert.Null(problem);
    }

    [Fact]
    public async Task File_checkpoints_survive_a_new_store_instance()
    {
        var path = Path.Combine(Path.GetTempPath(), "azure-cp-" + Guid.NewGuid().ToString("N"), "cp.json");
        try
        {
            await new FileTelemetryCheckpointStore(path).SetAsync("0", 42);
            Assert.Equal(42, await new FileTelemetryCheckpointStore(path).GetAsync("0"));
            Assert.Null(await new FileTelemetryCheckpointStore(path).GetAsync("1"));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public async Task Without_event_hub_options_reading_says_what_is_missing()
    {
        await using var provider = AzureIoTProvider.Create(new AzureIoTOptions { ConnectionString = "HostName=h.azure-devices.net;SharedAccessKeyName=p;SharedAccessKey=AAAA" });
        Assert.False(provider.Capabilities.TelemetryConsumption);
        var ex = await Assert.ThrowsAsync<NotSupportedException>(async () => { await foreach (var _ in provider.Telemetry.ReadAllAsync()) { } });
        Assert.Contains("EventHub", ex.Message, StringComparison.Ordinal);
    }
}
