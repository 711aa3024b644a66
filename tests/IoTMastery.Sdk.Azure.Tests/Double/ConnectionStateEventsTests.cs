using System.Text;
using Azure.Messaging.EventHubs;

namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>
/// Azure presence from the hub's connection-state events, read by the provider with the official Event Hubs client from the
/// double's built-in endpoint (itself proven with that client in <see cref="EventHubsEndpointOfficialClientTests"/>): the
/// stream, the merge with the polled identity, de-duplication and ordering by the events' sequence numbers, foreign events
/// skipped, and the polling-only mode without the route.
/// </summary>
[Collection(DoubleCollection.Name)]
public sealed class ConnectionStateEventsTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private static async Task<(IotHubDouble Hub, AzureIoTProvider Provider)> StartAsync()
    {
        var hub = await IotHubDouble.StartAsync();
        hub.RouteConnectionStateEvents = true;
        var provider = IotHubDoubleProviders.Create(hub, o => o.ConnectionStateEvents = new AzureEventHubOptions
        {
            ConnectionString = hub.EventHubs!.ConnectionString,
            ConsumerGroup = "presence",
        });
        return (hub, provider);
    }

    private static async Task<DeviceRegistrationResult> RegisterAsync(IIoTProvider provider, string id) =>
        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } });

    [Fact]
    public async Task Connects_and_disconnects_are_streamed_in_order_and_the_point_query_takes_the_event()
    {
        var (hub, provider) = await StartAsync();
        await using var _ = hub;
        await using var __ = provider;
        Assert.True(provider.Capabilities.PresenceEvents);
        Assert.Null(provider.Capabilities.PresenceStaleness);
        var registered = await RegisterAsync(provider, "dev-ev");
        using var bound = new CancellationTokenSource(Bound);
        await using var stream = provider.Registry.ReadPresenceEventsAsync(bound.Token).GetAsyncEnumerator(bound.Token);
        var next = stream.MoveNextAsync().AsTask();

        await using (var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-ev", Credential = registered.Credential! }))
            await device.ConnectAsync(bound.Token);

        var seen = new List<DevicePresence>();
        while (seen.Count < 2 && await next)
        {
            if (stream.Current.DeviceId == "dev-ev") seen.Add(stream.Current);
            if (seen.Count < 2) next = stream.MoveNextAsync().AsTask();
        }
        Assert.Equal<bool?>([true, false], seen.Select(e => e.Connected));
        // The hub's events say nothing about why a device left.
        Assert.All(seen, e => Assert.Null(e.DisconnectReason));
        Assert.True(seen[1].Since >= seen[0].Since);

        var now = await provider.Registry.GetPresenceAsync("dev-ev", bound.Token);
        Assert.False(now.Connected);
        Assert.Equal(seen[1].Since, now.Since);
        Assert.Null(now.MaxStaleness);
    }

    [Fact]
    public async Task A_redelivered_or_older_event_changes_nothing_and_foreign_events_are_skipped()
    {
        var (hub, provider) = await StartAsync();
        await using var _ = hub;
        await using var __ = provider;
        await RegisterAsync(provider, "dev-dup");
        using var bound = new CancellationTokenSource(Bound);
        await using var stream = provider.Registry.ReadPresenceEventsAsync(bound.Token).GetAsyncEnumerator(bound.Token);
        var next = stream.MoveNextAsync().AsTask();
        var endpoint = hub.EventHubs!;
        var t0 = DateTimeOffset.UtcNow;
        var seq = (int n) => new string('0', 56) + n.ToString("X8", System.Globalization.CultureInfo.InvariantCulture);

        hub.AppendConnectionStateEvent(endpoint, "dev-dup", connected: true, t0, seq(10));
        hub.AppendConnectionStateEvent(endpoint, "dev-dup", connected: true, t0, seq(10));            // redelivered
        // Telemetry on the same endpoint (a route of both to the built-in endpoint) is not a connection-state event.
        endpoint.Append(EventHubsEndpointDouble.PartitionOf("dev-dup"), Encoding.UTF8.GetBytes("""[{"m":"t","v":1,"t":1}]"""),
            new Dictionary<string, object>(), new Dictionary<string, object> { ["iothub-connection-device-id"] = "dev-dup", ["iothub-message-source"] = "Telemetry" });
        hub.AppendConnectionStateEvent(endpoint, "dev-dup", connected: false, t0.AddSeconds(-5), seq(9)); // older, late
        hub.AppendConnectionStateEvent(endpoint, "dev-dup", connected: false, t0.AddSeconds(1), seq(11));

        var seen = new List<DevicePresence>();
        while (await next)
        {
            if (stream.Current.DeviceId == "dev-dup") seen.Add(stream.Current);
            if (stream.Current.Connected == false) break;
            next = stream.MoveNextAsync().AsTask();
        }
        Assert.Equal<(bool?, DateTimeOffset?)>([(true, t0), (false, t0.AddSeconds(1))], seen.Select(e => (e.Connected, e.Since)));
        var state = await provider.Registry.GetPresenceAsync("dev-dup", bound.Token);
        Assert.Equal((false, t0.AddSeconds(1)), (state.Connected, state.Since));
    }

    [Fact]
    public async Task The_fleet_query_takes_the_event_where_the_twin_has_no_time()
    {
        var (hub, provider) = await StartAsync();
        await using var _ = hub;
        await using var __ = provider;
        var registered = await RegisterAsync(provider, "dev-fleet");
        using var bound = new CancellationTokenSource(Bound);
        await using var stream = provider.Registry.ReadPresenceEventsAsync(bound.Token).GetAsyncEnumerator(bound.Token);
        var next = stream.MoveNextAsync().AsTask();
        await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-fleet", Credential = registered.Credential! });
        await device.ConnectAsync(bound.Token);
        while (await next && stream.Current.DeviceId != "dev-fleet") next = stream.MoveNextAsync().AsTask();
        var connectedAt = stream.Current.Since;

        var row = Assert.Single(await provider.Registry.ListPresenceAsync(null, bound.Token).ToListAsync(bound.Token));
        Assert.Equal((true, connectedAt), (row.Connected, row.Since));
    }

    [Fact]
    public async Task Without_the_route_presence_polls_and_refuses_the_stream()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        Assert.False(provider.Capabilities.PresenceEvents);
        var refusal = Assert.Throws<NotSupportedException>(() => provider.Registry.ReadPresenceEventsAsync());
        Assert.Contains("DeviceConnectionStateEvents", refusal.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// EventHub and ConnectionStateEvents are both Event Hubs endpoints checked by one rule set; each error names the
    /// section it is in, so a user with both set knows which one to fix.
    /// </summary>
    [Theory]
    [InlineData("EventHub", " ", "$Default", null, "ConnectionString")]
    [InlineData("ConnectionStateEvents", " ", "$Default", null, "ConnectionString")]
    [InlineData("EventHub", "unused", " ", null, "ConsumerGroup")]
    [InlineData("ConnectionStateEvents", "unused", "", null, "ConsumerGroup")]
    [InlineData("EventHub", "unused", "$Default", " ", "CheckpointDirectory")]
    [InlineData("ConnectionStateEvents", "unused", "$Default", " ", "CheckpointDirectory")]
    [InlineData("ConnectionStateEvents", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=c2VjcmV0LWtleQ==", "$Default", "/tmp/cp", "ConnectionString")]
    public void A_bad_event_hubs_endpoint_is_refused_at_creation_naming_its_section(string section, string connectionString, string consumerGroup, string? checkpoints, string setting)
    {
        var endpoint = new AzureEventHubOptions { ConnectionString = connectionString, ConsumerGroup = consumerGroup, CheckpointDirectory = checkpoints };
        var options = new AzureIoTOptions
        {
            ConnectionString = "HostName=h.azure-devices.net;SharedAccessKeyName=p;SharedAccessKey=" + Convert.ToBase64String(new byte[32]),
            EventHub = section == "EventHub" ? endpoint : null,
            ConnectionStateEvents = section == "ConnectionStateEvents" ? endpoint : null,
        };
        var error = Assert.ThrowsAny<ArgumentException>(() => AzureIoTProvider.Create(options));
        Assert.Equal($"{section}.{setting}", error.ParamName);
        Assert.StartsWith($"{section}.{setting} ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("c2VjcmV0LWtleQ", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("deviceConnected", """{"sequenceNumber":"00A1"}""", "deviceConnectionStateEvents", true)]
    [InlineData("deviceDisconnected", """{"sequenceNumber":"00A1"}""", "deviceConnectionStateEvents", true)]
    [InlineData("deviceConnected", """{"sequenceNumber":"00A1"}""", "Telemetry", false)]
    [InlineData("deviceCreated", """{"sequenceNumber":"00A1"}""", "deviceConnectionStateEvents", false)]
    [InlineData("deviceConnected", """{"sequenceNumber":12}""", "deviceConnectionStateEvents", false)]
    [InlineData("deviceConnected", """{"sequenceNumber":"not hex"}""", "deviceConnectionStateEvents", false)]
    [InlineData("deviceConnected", "not json", "deviceConnectionStateEvents", false)]
    public void Only_well_formed_connection_state_events_are_applied(string opType, string body, string source, bool applied)
    {
        var data = EventHubsModelFactory.EventData(new BinaryData(Encoding.UTF8.GetBytes(body)),
            properties: new Dictionary<string, object> { ["opType"] = opType, ["deviceId"] = "d1" },
            systemProperties: new Dictionary<string, object> { ["iothub-connection-device-id"] = "d1", ["iothub-message-source"] = source },
            sequenceNumber: 1, offsetString: "1", enqueuedTime: DateTimeOffset.UnixEpoch.AddDays(1));
        var table = new PresenceTable(TimeProvider.System);
        var reader = new AzureConnectionStateEvents(new AzureEventHubOptions { ConnectionString = "unused" }, table, TimeProvider.System);
        Assert.Equal(applied, reader.Apply(data));
        Assert.Equal(applied ? 0 : 1, reader.SkippedEventCount);
        var presence = table.Get("d1", unknown: null, staleness: null);
        Assert.Equal(applied ? opType == "deviceConnected" : null, presence.Connected);
        // Without operationTimestamp the event's enqueued time stands for the change.
        if (applied) Assert.Equal(DateTimeOffset.UnixEpoch.AddDays(1), presence.Since);
    }
}
