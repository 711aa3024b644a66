using System.Text.Json;
using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// (a) Records per second through intake + batching (+ JSON), one producer, an acknowledging
/// in-memory transport. Each operation is one record (OperationsPerInvoke), so Mean is ns/record
/// and Allocated is bytes/record. The raw channel is the ceiling; the naive loop is what we replace.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortConfig))]
public class ThroughputBenchmarks
{
    private const int N = 1_000_000;
    private TelemetryRecord[] _records = [];
    private TelemetryPipeline _batchingOnly = null!;
    private TelemetryPipeline _json = null!;

    [GlobalSetup]
    public void Setup()
    {
        _records = Data.Make(N);
        _batchingOnly = new TelemetryPipeline(new AckTransport(), new TelemetryPipelineOptions { Encoder = new ValueOnlyEncoder() });
        _json = new TelemetryPipeline(new AckTransport());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _batchingOnly.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _json.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "Channel<T> pass (ceiling)")]
    public async Task RawChannel()
    {
        var channel = Channel.CreateBounded<TelemetryRecord>(new BoundedChannelOptions(100_000) { SingleReader = true, SingleWriter = true });
        var consumer = Task.Run(async () =>
        {
            long sum = 0;
            var reader = channel.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
                while (reader.TryRead(out var record)) sum += record.Timestamp.Ticks;
            return sum;
        });
        var writer = channel.Writer;
        foreach (var record in _records)
        {
            if (!writer.TryWrite(record)) await writer.WriteAsync(record).ConfigureAwait(false);
        }
        writer.Complete();
        await consumer.ConfigureAwait(false);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "naive: List + JsonSerializer per record")]
    public Task NaiveLoop() => Task.Run(() =>
    {
        var transport = new AckTransport();
        var batch = new List<byte[]>(512);
        foreach (var record in _records)
        {
            batch.Add(JsonSerializer.SerializeToUtf8Bytes(record));
            if (batch.Count == 512)
            {
                var payload = batch.SelectMany(b => b).ToArray();
                transport.SendAsync(new TelemetryBatch(payload, batch.Count), default).GetAwaiter().GetResult();
                batch.Clear();
            }
        }
    });

    [Benchmark(OperationsPerInvoke = N, Description = "pipeline: intake + batching")]
    public Task PipelineBatching() => Run(_batchingOnly);

    [Benchmark(OperationsPerInvoke = N, Description = "pipeline: intake + batching + JSON")]
    public Task PipelineJson() => Run(_json);

    private async Task Run(TelemetryPipeline pipeline)
    {
        foreach (var record in _records)
        {
            if (!pipeline.TryWrite(record)) await pipeline.WriteAsync(record).ConfigureAwait(false);
        }
        await pipeline.FlushAsync().ConfigureAwait(false);
    }
}
