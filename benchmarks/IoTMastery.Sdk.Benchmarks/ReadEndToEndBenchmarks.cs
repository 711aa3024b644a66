using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk.Local;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// (f) The reading side end to end on the Local provider: a device publishes pre-encoded 512-record batches (QoS 1,
/// mutual TLS) to the embedded broker, which decodes each one with <see cref="TelemetryRecord.DecodeBatch(System.ReadOnlySpan{byte}, System.Collections.Generic.List{TelemetryRecord})"/> before its PUBACK;
/// the fleet reads every record back through <c>ITelemetryChannel.ReadAllAsync</c>. The baseline publishes the same
/// batches with nobody reading, so the ratio is what reading adds. Mean is ns per record.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(EndToEndConfig))]
public class ReadEndToEndBenchmarks
{
    private const int N = EndToEndBenchmarks.RecordCount;
    private static readonly string Topic = $"devices/{FleetReader.DeviceId}/telemetry";

    private ReadOnlyMemory<byte>[] _batches = [];
    private LocalIoTProvider _local = null!;
    private MqttDeviceClient _client = null!;
    private readonly FleetReader _reader = new();

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        _batches = FleetReader.PreEncodedBatches(N, FleetReader.Batch);
        _local = await LocalIoTProvider.StartAsync();
        _client = new MqttDeviceClient(await EndToEndBenchmarks.LocalDeviceOptionsAsync(_local, FleetReader.DeviceId), "Local");
        await _client.ConnectAsync();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _reader.Dispose();
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _local.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "publish pre-encoded, broker decodes, nobody reads")]
    public Task PublishOnly() => FleetReader.PublishAllAsync(_client, Topic, _batches);

    [Benchmark(OperationsPerInvoke = N, Description = "publish pre-encoded + fleet ReadAllAsync of every record")]
    public async Task PublishAndRead()
    {
        _reader.Start(_local.Telemetry);
        await FleetReader.PublishAllAsync(_client, Topic, _batches).ConfigureAwait(false);
        await _reader.ReadAsync(N).ConfigureAwait(false);
    }
}
