using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// Durable intake (issue #18 target 2): how fast records become <em>accepted</em> (appended to the outbox, durable per its
/// mode) through the per-record <c>WriteAsync</c>, against <c>WriteBatchAsync(512)</c> in the same run. One operation
/// writes a fixed number of records and ends when the last write completed; the pipeline's batcher and sender read and
/// deliver concurrently (an acknowledging in-memory transport), as in production. Each iteration's cleanup flushes, so
/// every iteration starts with an empty outbox. Mean is ns per accepted record.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortConfig))]
public class DurableIntakeBenchmarks
{
    private const int N = 200_000;
    private const int Producers = 16;
    private const int FsyncRecords = 2_048;
    private const int FsyncProducers = 64;

    private TelemetryRecord[] _records = [];
    private string _root = "";
    private TelemetryPipeline _mapped = null!;
    private TelemetryPipeline _pwrite = null!;
    private TelemetryPipeline _fsync = null!;

    [GlobalSetup]
    public void Setup()
    {
        _records = Data.Make(N);
        _root = Directory.CreateTempSubdirectory("iotm-intake-bench-").FullName;
        _mapped = Durable("mapped", TimeSpan.FromMilliseconds(100), map: true);
        _pwrite = Durable("pwrite", TimeSpan.FromMilliseconds(100), map: false);
        _fsync = Durable("fsync", TimeSpan.Zero, map: true);
    }

    private TelemetryPipeline Durable(string name, TimeSpan? fsyncInterval, bool map) => new(new AckTransport(), new TelemetryPipelineOptions
    {
        Outbox = new TelemetryOutboxOptions { Directory = Path.Combine(_root, name), FsyncInterval = fsyncInterval, MapActiveSegment = map },
        Encoder = TelemetryJsonEncoder.WithSequence,
    });

    [IterationCleanup]
    public void Drain()
    {
        // Not measured: delivering what the iteration accepted, so the next one starts from an empty outbox.
        Task.WhenAll(_mapped.FlushAsync(), _pwrite.FlushAsync(), _fsync.FlushAsync()).WaitAsync(TimeSpan.FromMinutes(2)).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _mapped.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _pwrite.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _fsync.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "GroupCommit: 1 producer, WriteBatchAsync(512)")]
    public async Task Batches()
    {
        for (int i = 0; i < N; i += 512)
            await _mapped.WriteBatchAsync(_records.AsMemory(i, Math.Min(512, N - i))).ConfigureAwait(false);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "GroupCommit: 1 producer, WriteAsync awaited per record")]
    public Task OneProducer() => Write(_mapped, 0, N);

    [Benchmark(OperationsPerInvoke = N, Description = "GroupCommit: 16 producers, WriteAsync awaited per record")]
    public Task ManyProducers() => Concurrent(_mapped, Producers, N);

    [Benchmark(OperationsPerInvoke = N, Description = "GroupCommit, pwrite per append (mapping off): 1 producer, WriteAsync")]
    public Task OneProducerPwrite() => Write(_pwrite, 0, N);

    [Benchmark(OperationsPerInvoke = N, Description = "GroupCommit, pwrite per append (mapping off): 16 producers, WriteAsync")]
    public Task ManyProducersPwrite() => Concurrent(_pwrite, Producers, N);

    [Benchmark(OperationsPerInvoke = FsyncRecords, Description = "FsyncPerAppend: 1 producer, WriteAsync")]
    public Task OneProducerFsync() => Write(_fsync, 0, FsyncRecords);

    [Benchmark(OperationsPerInvoke = FsyncRecords, Description = "FsyncPerAppend: 64 producers, WriteAsync")]
    public Task ManyProducersFsync() => Concurrent(_fsync, FsyncProducers, FsyncRecords);

    private Task Concurrent(TelemetryPipeline pipeline, int producers, int total)
    {
        int share = total / producers;
        return Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(() => Write(pipeline, p * share, share))));
    }

    private async Task Write(TelemetryPipeline pipeline, int from, int count)
    {
        for (int i = from; i < from + count; i++) await pipeline.WriteAsync(_records[i]).ConfigureAwait(false);
    }
}
