using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Azure.Tests.Telemetry;

/// <summary>
/// The provider's telemetry reader end to end: a device publishes over MQTT to the IoT Hub double, the double routes the message
/// to its built-in Event Hubs endpoint (AMQP, proven first by the official client in EventHubsEndpointOfficialClientTests), and
/// <see cref="ITelemetryChannel"/> reads it with the official consumer client. Connection-state events share the endpoint, as
/// they do on a hub with that route, so the reader also proves it passes over them without a warning.
/// </summary>
public sealed class AzureTelemetryEndToEndTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);
    private static readonly DateTimeOffset Start = DateTimeOffset.UtcNow;
    private readonly string _checkpoints = Path.Combine(Path.GetTempPath(), "azure-e2e-cp-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task A_device_sends_SubscribeAsync_reads_in_order_and_a_new_reader_resumes_after_the_checkpoint_in_the_directory()
    {
        await using var hub = await IotHubDouble.StartAsync();
        hub.RouteConnectionStateEvents = true;
        var logs = new CapturingLoggerFactory();
        var eventHub = new AzureEventHubOptions { ConnectionString = hub.EventHubs!.ConnectionString, CheckpointDirectory = _checkpoints, StartFromEarliest = true };
        using var bound = new CancellationTokenSource(Bound);

        await using (var provider = IotHubDoubleProviders.Create(hub, o => o.EventHub = eventHub, loggerFactory: logs))
        {
            Assert.True(provider.Capabilities.TelemetryConsumption);
            var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-e2e", Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } }, bound.Token);
            await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-e2e", Credential = registered.Credential! });
            await using (var subscription = await provider.Telemetry.SubscribeAsync(bound.Token))
            {
                // Live when SubscribeAsync returns: the connect's own connection-state event and everything after it are read.
                await device.ConnectAsync(bound.Token);
                await SendAsync(device, "first", 0, 20, bound.Token);
                // A separate message after the first batch: reading it means the reader moved past (and checkpointed) all of "first".
                await SendAsync(device, "marker", 0, 1, bound.Token);
                var read = await TakeAsync(subscription.ReadAllAsync(bound.Token), 21);
                // One device stays on one partition, so its records arrive in the order sent.
                Assert.Equal(Enumerable.Range(0, 20).Select(i => (double)i), read.Take(20).Select(r => r.Value));
                Assert.All(read.Take(20), r => Assert.Equal(("dev-e2e", "first"), (r.DeviceId, r.Metric)));
                Assert.Equal("marker", read[20].Metric);
            }
            await SendAsync(device, "second", 0, 10, bound.Token);
        }
        Assert.Single(Directory.GetFiles(_checkpoints));

        // A new provider (a restarted process) with the same directory: StartFromEarliest would replay "first" without the
        // checkpoint; it starts after it instead. The marker may come again (delivery is at least once), "first" never does.
        await using (var restarted = IotHubDoubleProviders.Create(hub, o => o.EventHub = eventHub, loggerFactory: logs))
        {
            var resumed = new List<TelemetryRecord>();
            await foreach (var record in restarted.Telemetry.ReadAllAsync(bound.Token))
            {
                Assert.NotEqual("first", record.Metric);
                resumed.Add(record);
                if (record.Metric == "second" && record.Value == 9) break;
            }
            Assert.Equal(Enumerable.Range(0, 10).Select(i => (double)i), resumed.Where(r => r.Metric == "second").Select(r => r.Value));
            Assert.All(resumed, r => Assert.Contains(r.Metric, new[] { "marker", "second" }));
        }

        // The connection-state events on the same partitions were passed over as expected traffic, not logged as skipped.
        Assert.True(hub.EventHubs.Count(EventHubsEndpointDouble.PartitionOf("dev-e2e")) > 3);
        Assert.DoesNotContain(logs.Lines, l => l.Contains("Skipped event", StringComparison.Ordinal));
    }

    private static async Task SendAsync(IDeviceConnection device, string metric, int from, int count, CancellationToken cancellationToken)
    {
        for (var i = from; i < from + count; i++)
            await device.SendTelemetryAsync(new TelemetryRecord("dev-e2e", metric, i, Start.AddMilliseconds(i)), cancellationToken);
        // Flush completes on the hub's PUBACK, sent after the double appended the message to the endpoint.
        await device.FlushAsync(cancellationToken);
    }

    private static async Task<List<TelemetryRecord>> TakeAsync(IAsyncEnumerable<TelemetryRecord> records, int count)
    {
        var taken = new List<TelemetryRecord>();
        await foreach (var record in records)
        {
            taken.Add(record);
            if (taken.Count == count) break;
        }
        return taken;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Directory.Exists(_checkpoints)) Directory.Delete(_checkpoints, recursive: true);
    }
}
