using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk.CloudDoubles.CloudIot;
using IoTMastery.Sdk.CloudDoubles.PubSub;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// (h) The reading side end to end on the GCP-style provider: Google's Pub/Sub emulator (java, its own process, killed by
/// PID in cleanup), the Cloud IoT registry double, and the verifying bridge double, which checks each device's JWT against
/// the registered key and relays its events to the telemetry topic (the stack of the GCP tests, <see cref="GcpProviderStack"/>).
/// A registered device sends the records through its connection's pipeline (512-record batches on
/// <c>/devices/{id}/events</c>, QoS 1: the bridge acknowledges after Pub/Sub accepted the message). The fleet pulls them
/// from the subscription and decodes them through the provider's <c>ITelemetryChannel</c>. Publishing cannot be measured
/// alone here, as it can on MQTT-only peers: an unread subscription keeps the messages, and the next read would drain that
/// backlog. So the baseline is the provider's decode step alone, over the same records in 512-record batches. Mean is ns per record.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(EndToEndConfig))]
public class GcpReadEndToEndBenchmarks
{
    private const int N = EndToEndBenchmarks.RecordCount;

    private readonly PubSubEmulator _emulator = new();
    private readonly FleetReader _reader = new();
    private readonly List<TelemetryRecord> _decoded = new(FleetReader.Batch);
    private TelemetryRecord[] _records = [];
    private ReadOnlyMemory<byte>[] _batches = [];
    private GcpProviderStack _stack = null!;
    private IDeviceConnection _device = null!;

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        _records = EndToEndBenchmarks.Records(N);
        _batches = FleetReader.PreEncodedBatches(N, FleetReader.Batch);
        await _emulator.InitializeAsync();
        _stack = await GcpProviderStack.StartAsync(_emulator, withReplies: false, bridge: GcpBridgePeer.VerifyingDouble);
        var provider = _stack.Provider;
        var registration = await provider.Registry.RegisterAsync(new DeviceRegistration
        { Id = FleetReader.DeviceId, Credential = new CredentialRequest { Kind = provider.Capabilities.DefaultCredentialKind } });
        _device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = FleetReader.DeviceId, Credential = registration.Credential! });
        await _device.ConnectAsync();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _reader.Dispose();
        _device.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _stack.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _emulator.DisposeAsync().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "GCP: decode the same 512-record batches only (TelemetryRecord.DecodeBatch)")]
    public int DecodeOnly()
    {
        int decoded = 0;
        foreach (var payload in _batches)
        {
            _decoded.Clear();
            decoded += TelemetryRecord.DecodeBatch(payload.Span, _decoded);
        }
        return decoded == N ? decoded : throw new InvalidOperationException($"Decoded {decoded} of {N} records.");
    }

    [Benchmark(OperationsPerInvoke = N, Description = "GCP: device pipeline -> bridge double -> Pub/Sub emulator -> provider Telemetry.ReadAllAsync")]
    public async Task PublishAndRead()
    {
        _reader.Start(_stack.Provider.Telemetry);
        foreach (var record in _records)
            await _device.SendTelemetryAsync(record).ConfigureAwait(false);
        await _device.FlushAsync().ConfigureAwait(false);
        await _reader.ReadAsync(N).ConfigureAwait(false);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "GCP: the same batches published to the topic over REST (bridge's attributes) -> provider Telemetry.ReadAllAsync")]
    public async Task TopicPublishAndRead()
    {
        // The fleet side without the device and the bridge: what the bridge double would relay, published straight to the
        // telemetry topic, one message per batch, so the row shows how much of the end-to-end time pulling and decoding take.
        _reader.Start(_stack.Provider.Telemetry);
        var attributes = new Dictionary<string, string>
        { ["deviceId"] = FleetReader.DeviceId, ["deviceRegistryId"] = _stack.Options.RegistryId, ["projectId"] = _stack.Options.ProjectId };
        foreach (var payload in _batches)
            await _emulator.Rest.PublishAsync(_stack.Options.TelemetryTopicId!, payload, attributes).ConfigureAwait(false);
        await _reader.ReadAsync(N).ConfigureAwait(false);
    }
}
