using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// Pipeline throughput in durable mode (every record appended to a GroupCommit outbox before the write completes,
/// read back, JSON-encoded with its sequence, acknowledged in the outbox) against the in-memory pipeline in the same run.
/// Each operation is one record (OperationsPerInvoke) and ends with FlushAsync, so Mean is ns per acknowledged record.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortConfig))]
public class DurableThroughputBenchmarks
{
    private const int N = 200_000;
    private const int Producers = 4;
    private TelemetryRecord[] _records = [];
    private string _directory = "";
    private TelemetryPipeline _memory = null!;
    private TelemetryPipeline _durable = null!;

    [GlobalSetup]
    public void Setup()
    {
        _records = Data.Make(N);
        _directory = Directory.CreateTempSubdirectory("iotm-durable-bench-").FullName;
        _memory = new TelemetryPipeline(new AckTransport());
        _durable = new TelemetryPipeline(new AckTransport(), new TelemetryPipelineOptions
        {
            Outbox = new TelemetryOutboxOptions { Directory = _directory },
            Encoder = TelemetryJsonEncoder.WithSequence,
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _memory.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _durable.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "in-memory: 1 producer")]
    public Task InMemory() => Run(_memory, 0, N);

    [Benchmark(OperationsPerInvoke = N, Description = "durable (GroupCommit): 1 producer")]
    public Task DurableOneProducer() => Run(_durable, 0, N);

    [Benchmark(OperationsPerInvoke = N, Description = "durable (GroupCommit): 4 producers")]
    public async Task DurableFourProducers()
    {
        const int Share = N / Producers;
        await Task.WhenAll(Enumerable.Range(0, Producers).Select(p => Task.Run(() => Write(_durable, p * Share, Share)))).ConfigureAwait(false);
        await _durable.FlushAsync().ConfigureAwait(false);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "durable (GroupCommit): 1 producer, WriteBatchAsync(512)")]
    public async Task DurableBatches()
    {
        for (int i = 0; i < N; i += 512)
            await _durable.WriteBatchAsync(_records.AsMemory(i, Math.Min(512, N - i))).ConfigureAwait(false);
        await _durable.FlushAsync().ConfigureAwait(false);
    }

    private async Task Run(TelemetryPipeline pipeline, int from, int count)
    {
        await Write(pipeline, from, count).ConfigureAwait(false);
        await pipeline.FlushAsync().ConfigureAwait(false);
    }

    private async Task Write(TelemetryPipeline pipeline, int from, int count)
    {
        for (int i = from; i < from + count; i++)
        {
            if (!pipeline.TryWrite(_records[i])) await pipeline.WriteAsync(_records[i]).ConfigureAwait(false);
        }
    }
}
