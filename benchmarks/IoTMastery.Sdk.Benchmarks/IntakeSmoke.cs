using System.Diagnostics;
using System.Globalization;
using IoTMastery.Sdk;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// `intake-smoke [rounds]`: the load-robust cross-check of <see cref="DurableIntakeBenchmarks"/>. One producer writes
/// 200,000 records per round into a durable (GroupCommit) pipeline, round-robin over the methods, and the median of the
/// rounds is reported: wall time, and the CPU time of the producer's own thread (Linux <c>/proc/thread-self/schedstat</c>).
/// The producer loop stays on one thread because a write that completes synchronously is not awaited, and one that does
/// not is waited for on the spot, so its thread CPU time is the intake's cost per record whatever the machine's load.
/// Delivery runs concurrently on other threads and is not timed; each round ends with an untimed flush.
/// </summary>
public static class IntakeSmoke
{
    private const int N = 200_000;

    public static void Run(int rounds)
    {
        var records = Data.Make(N);
        string root = Directory.CreateTempSubdirectory("iotm-intake-smoke-").FullName;
        var methods = new (string Name, TelemetryPipeline Pipeline, bool Batches)[]
        {
            ("WriteBatchAsync(512), mapped segment", Open(root, "batch", map: true), true),
            ("WriteAsync per record, mapped segment", Open(root, "mapped", map: true), false),
            ("WriteAsync per record, pwrite per append (mapping off)", Open(root, "pwrite", map: false), false),
        };
        var wall = methods.Select(_ => new List<double>()).ToArray();
        var cpu = methods.Select(_ => new List<double>()).ToArray();
        var queued = methods.Select(_ => new List<double>()).ToArray();
        var blocks = methods.Select(_ => new List<double>()).ToArray();
        var collections = methods.Select(_ => new List<double>()).ToArray();
        var wakes = methods.Select(_ => new List<double>()).ToArray();
        try
        {
            for (int round = 0; round < rounds; round++)
            {
                for (int m = 0; m < methods.Length; m++)
                {
                    var (_, pipeline, batches) = methods[m];
                    var (cpu0, queued0) = ThreadSchedStat();
                    long blocks0 = VoluntarySwitches();
                    int gc0 = GC.CollectionCount(0);
                    long wakes0 = pipeline.BatcherWakeups;
                    long start = Stopwatch.GetTimestamp();
                    if (batches) WriteBatches(pipeline, records);
                    else WriteOneByOne(pipeline, records);
                    double elapsed = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
                    var (cpu1, queued1) = ThreadSchedStat();
                    long blocks1 = VoluntarySwitches();
                    int gc1 = GC.CollectionCount(0);
                    long wakes1 = pipeline.BatcherWakeups;
                    wall[m].Add(elapsed / N);
                    cpu[m].Add((cpu1 - cpu0) / (double)N);
                    queued[m].Add((queued1 - queued0) / (double)N);
                    blocks[m].Add(blocks1 - blocks0);
                    collections[m].Add(gc1 - gc0);
                    wakes[m].Add(wakes1 - wakes0);
                    pipeline.FlushAsync().WaitAsync(TimeSpan.FromMinutes(2)).GetAwaiter().GetResult();
                }
            }
        }
        finally
        {
            foreach (var (_, pipeline, _) in methods) pipeline.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Directory.Delete(root, recursive: true);
        }

        Console.WriteLine($"intake-smoke: {rounds} rounds x {N:N0} records, median per record; load {File.ReadAllText("/proc/loadavg").Trim()}");
        // Wall = CPU + waiting for a core (run queue) + blocked (parked on a lock, a wait, or a GC that suspended it):
        // the last columns say which. Collections are process-wide (delivery's allocations count), and each one stops the producer.
        Console.WriteLine("| method | wall ns/record | records/s (wall) | producer-thread CPU ns/record | records per CPU-second | run-queue wait ns/record | producer blocks per round | gen-0 GCs per round | batcher wakes per round |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (int m = 0; m < methods.Length; m++)
        {
            double w = Median(wall[m]), c = Median(cpu[m]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {methods[m].Name} | {w:N0} | {1e9 / w / 1e6:N2} M | {c:N0} | {1e9 / c / 1e6:N2} M | {Median(queued[m]):N0} | {Median(blocks[m]):N0} | {Median(collections[m]):N0} | {Median(wakes[m]):N0} |"));
        }
    }

    private static TelemetryPipeline Open(string root, string name, bool map) => new(new AckTransport(), new TelemetryPipelineOptions
    {
        Outbox = new TelemetryOutboxOptions { Directory = Path.Combine(root, name), MapActiveSegment = map },
        Encoder = TelemetryJsonEncoder.WithSequence,
    });

    private static void WriteOneByOne(TelemetryPipeline pipeline, TelemetryRecord[] records)
    {
        foreach (var record in records)
        {
            var write = pipeline.WriteAsync(record);
            if (!write.IsCompletedSuccessfully) write.AsTask().GetAwaiter().GetResult();
        }
    }

    private static void WriteBatches(TelemetryPipeline pipeline, TelemetryRecord[] records)
    {
        for (int i = 0; i < records.Length; i += 512)
        {
            var write = pipeline.WriteBatchAsync(records.AsMemory(i, Math.Min(512, records.Length - i)));
            if (!write.IsCompletedSuccessfully) write.AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Nanoseconds this thread has spent on a CPU and waiting on a run queue: the first two fields of <c>/proc/thread-self/schedstat</c>.</summary>
    private static (long Cpu, long Queued) ThreadSchedStat()
    {
        string[] fields = File.ReadAllText("/proc/thread-self/schedstat").Split(' ');
        return (long.Parse(fields[0], CultureInfo.InvariantCulture), long.Parse(fields[1], CultureInfo.InvariantCulture));
    }

    /// <summary>Times this thread gave up its core to wait (a contended lock, a blocking wait): <c>voluntary_ctxt_switches</c>.</summary>
    private static long VoluntarySwitches()
    {
        foreach (string line in File.ReadLines("/proc/thread-self/status"))
            if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
