using System.Buffers;
using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk.Local;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// (f) The reading side end to end on the Local provider: a device publishes pre-encoded 512-record batches (QoS 1,
/// mutual TLS) to the embedded broker, which decodes each one with <see cref="TelemetryBatchDecoder"/> before its PUBACK;
/// the fleet reads every record back through <c>ITelemetryChannel.ReadAllAsync</c>. The baseline publishes the same
/// batches with nobody reading, so the ratio is what reading adds. Mean is ns per record.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(EndToEndConfig))]
public class ReadEndToEndBenchmarks
{
    private const int N = EndToEndBenchmarks.RecordCount;
    private const int Batch = 512;
    private const string DeviceId = "plant-7-line-3-sensor-0001";
    private static readonly string Topic = $"devices/{DeviceId}/telemetry";

    private ReadOnlyMemory<byte>[] _batches = [];
    private LocalIoTProvider _local = null!;
    private MqttDeviceClient _client = null!;
    private readonly CancellationTokenSource _readerStop = new(TimeSpan.FromMinutes(10));
    private IAsyncEnumerator<TelemetryRecord>? _reader;
    private ValueTask<bool> _next;

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        var records = EndToEndBenchmarks.Records(N);
        _batches = records.Chunk(Batch).Select(chunk =>
        {
            var writer = new ArrayBufferWriter<byte>();
            TelemetryJson.WriteBatch(writer, chunk);
            return writer.WrittenMemory;
        }).ToArray();
        _local = await LocalIoTProvider.StartAsync();
        _client = new MqttDeviceClient(await EndToEndBenchmarks.LocalDeviceOptionsAsync(_local, DeviceId), "Local");
        await _client.ConnectAsync();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_reader is not null)
        {
            _readerStop.Cancel();
            try
            {
                _next.AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                // The pending read ends with the cancellation that stops it.
            }
            _reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        _readerStop.Dispose();
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _local.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "publish pre-encoded, broker decodes, nobody reads")]
    public async Task PublishOnly()
    {
        foreach (var payload in _batches)
            await _client.PublishAsync(Topic, payload, MqttQualityOfService.AtLeastOnce).ConfigureAwait(false);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "publish pre-encoded + fleet ReadAllAsync of every record")]
    public async Task PublishAndRead()
    {
        if (_reader is null)
        {
            // One reader for the whole run (a fleet consumer is long-lived): a new one per invocation would measure its
            // buffer growing. The first MoveNextAsync registers it with the broker before anything is published.
            _reader = _local.Telemetry.ReadAllAsync(_readerStop.Token).GetAsyncEnumerator(_readerStop.Token);
            _next = _reader.MoveNextAsync();
        }
        foreach (var payload in _batches)
            await _client.PublishAsync(Topic, payload, MqttQualityOfService.AtLeastOnce).ConfigureAwait(false);
        double sum = 0;
        for (int read = 0; read < N; read++)
        {
            // Bounded: _readerStop cancels the reader after 10 minutes, so a lost record fails the run instead of hanging it.
            if (!await _next.ConfigureAwait(false)) throw new InvalidOperationException($"The telemetry stream ended after {read} of {N} records.");
            sum += _reader.Current.Value;
            _next = _reader.MoveNextAsync();
        }
        if (sum <= 0) throw new InvalidOperationException("Read records carry no values.");
    }
}
