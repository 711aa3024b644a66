using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// Append throughput of <see cref="TelemetryOutbox"/> in the default mode (GroupCommit) and the strictest
/// (FsyncPerAppend). Results are per record; each invocation ends with an Acknowledge, so segment
/// compaction and the checkpoint write are part of the steady-state cost.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class OutboxAppendBenchmarks
{
    private const int Records = 10_240;
    private const int FsyncRecords = 200;
    private const int BatchSize = 512;

    private readonly TelemetryRecord[] _records = Enumerable.Range(0, Records)
        .Select(i => new TelemetryRecord($"device-{i % 100:D3}", "temperature", 20 + i % 10, DateTimeOffset.UnixEpoch.AddSeconds(i)))
        .ToArray();
    private string _root = "";
    private TelemetryOutbox _groupCommit = null!;
    private TelemetryOutbox _fsync = null!;

    [GlobalSetup]
    public void Setup()
    {
        _root = Path.Combine(Path.GetTempPath(), "iotm-outbox-bench-" + Guid.NewGuid().ToString("N"));
        _groupCommit = TelemetryOutbox.Open(new TelemetryOutboxOptions { Directory = Path.Combine(_root, "group") });
        _fsync = TelemetryOutbox.Open(new TelemetryOutboxOptions { Directory = Path.Combine(_root, "fsync"), FsyncInterval = TimeSpan.Zero });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _groupCommit.Dispose();
        _fsync.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = Records, Description = "GroupCommit: Append")]
    public long GroupCommitAppend()
    {
        long last = 0;
        foreach (ref readonly var record in _records.AsSpan()) last = _groupCommit.Append(record);
        _groupCommit.Acknowledge(last);
        return last;
    }

    [Benchmark(OperationsPerInvoke = Records, Description = "GroupCommit: AppendBatch(512)")]
    public long GroupCommitAppendBatch()
    {
        long last = 0;
        for (int i = 0; i < Records; i += BatchSize) last = _groupCommit.AppendBatch(_records.AsSpan(i, BatchSize));
        _groupCommit.Acknowledge(last);
        return last;
    }

    [Benchmark(OperationsPerInvoke = FsyncRecords, Description = "FsyncPerAppend: Append")]
    public long FsyncAppend()
    {
        long last = 0;
        foreach (ref readonly var record in _records.AsSpan(0, FsyncRecords)) last = _fsync.Append(record);
        _fsync.Acknowledge(last);
        return last;
    }

    [Benchmark(OperationsPerInvoke = Records, Description = "FsyncPerAppend: AppendBatch(512)")]
    public long FsyncAppendBatch()
    {
        long last = 0;
        for (int i = 0; i < Records; i += BatchSize) last = _fsync.AppendBatch(_records.AsSpan(i, BatchSize));
        _fsync.Acknowledge(last);
        return last;
    }
}
