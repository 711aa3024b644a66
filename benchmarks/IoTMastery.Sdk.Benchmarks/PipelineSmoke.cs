using System.Diagnostics;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// `pipe-smoke [rounds]`: the e2e pipeline row without a broker. Each round writes the e2e data (20,000 records) with
/// <c>TryWrite</c> and flushes, through a transport that acknowledges each batch on a thread-pool worker (as a PUBACK
/// continuation does), four batches in flight. It prints the process CPU per record: the pipeline's own cost (intake,
/// encoding, hand-offs) without TLS and broker noise, so changes to those show in a short run on a loaded machine.
/// </summary>
public static class PipelineSmoke
{
    public static async Task RunAsync(int rounds)
    {
        var records = EndToEndBenchmarks.Records(EndToEndBenchmarks.RecordCount);
        await using var pipeline = new TelemetryPipeline(new YieldingTransport());
        var wall = new List<double>();
        var cpu = new List<double>();
        var workItems = new List<double>();
        var self = Process.GetCurrentProcess();
        for (int round = 0; round <= rounds; round++)
        {
            self.Refresh();
            var cpu0 = self.TotalProcessorTime;
            long items0 = ThreadPool.CompletedWorkItemCount;
            var watch = Stopwatch.StartNew();
            foreach (var record in records)
            {
                if (!pipeline.TryWrite(record)) await pipeline.WriteAsync(record).ConfigureAwait(false);
            }
            await pipeline.FlushAsync().ConfigureAwait(false);
            var ns = watch.Elapsed.TotalNanoseconds / records.Length;
            self.Refresh();
            if (round == 0) continue; // warm-up
            wall.Add(ns);
            cpu.Add((self.TotalProcessorTime - cpu0).TotalNanoseconds / records.Length);
            workItems.Add((ThreadPool.CompletedWorkItemCount - items0) / (records.Length / 512.0));
        }
        wall.Sort();
        var sortedCpu = cpu.Order().ToArray();
        Console.WriteLine($"SUMMARY pipe-smoke  wall median {wall[wall.Count / 2],6:N0} ns/record  cpu median {sortedCpu[sortedCpu.Length / 2],6:N0} min {sortedCpu[0],6:N0} mean {cpu.Average(),6:N0} ns/record  {workItems.Average(),4:N1} work items per 512 records");
    }

    private sealed class YieldingTransport : ITelemetryTransport
    {
        public TelemetryTransportLimits Limits { get; } = new() { MaxInFlight = ushort.MaxValue };

        public async ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken) => await Task.Yield();

        public bool IsTransient(Exception exception) => false;
    }
}
