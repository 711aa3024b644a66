using System.Diagnostics;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// `enc-smoke [rounds]`: the pipeline's per-record encoding alone. Each round encodes the e2e data (20,000 records) through
/// the batch builder's entry into 512-record batches, on one thread, and prints the process CPU per record (median, min),
/// a figure that stays usable on a loaded machine where BenchmarkDotNet's wall-clock means do not.
/// </summary>
public static class EncodeSmoke
{
    public static void Run(int rounds)
    {
        var records = EndToEndBenchmarks.Records(EndToEndBenchmarks.RecordCount);
        var encoder = TelemetryJsonEncoder.Instance;
        var heads = TelemetryJsonEncoder.NewHeadTable();
        using var buffer = new PooledBufferWriter(128 * 1024);
        var cpu = new List<double>();
        var self = Process.GetCurrentProcess();
        long bytes = 0;
        for (int round = 0; round <= rounds; round++)
        {
            self.Refresh();
            var cpu0 = self.TotalProcessorTime;
            // Enough passes per round for the CPU clock's resolution.
            for (int pass = 0; pass < 20; pass++)
            {
                for (int i = 0; i < records.Length; i++)
                {
                    int inBatch = i % 512;
                    if (inBatch == 0)
                    {
                        bytes += buffer.Length;
                        buffer.Clear();
                        buffer.Write(encoder.BatchPrefix);
                    }
                    encoder.WriteRecord(buffer, records[i], inBatch > 0, heads);
                }
            }
            self.Refresh();
            if (round == 0) continue; // warm-up
            cpu.Add((self.TotalProcessorTime - cpu0).TotalNanoseconds / (records.Length * 20.0));
        }
        var sorted = cpu.Order().ToArray();
        Console.WriteLine($"SUMMARY enc-smoke  cpu median {sorted[sorted.Length / 2],6:N1} min {sorted[0],6:N1} ns/record  ({bytes / (double)(records.Length * 20L * (rounds + 1)):N1} B/record)");
    }
}
