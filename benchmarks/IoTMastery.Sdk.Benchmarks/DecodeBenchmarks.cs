using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// (e) The reading side: one 512-record batch as the pipeline writes it (<see cref="TelemetryJsonEncoder.WithSequence"/>,
/// 100 devices) decoded back into <see cref="TelemetryRecord"/>s. Per-record figures (OperationsPerInvoke).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortConfig))]
public class DecodeBenchmarks
{
    private const int Batch = 512;
    private byte[] _payload = [];
    private ReadOnlySequence<byte> _segmented;
    private readonly List<TelemetryRecord> _output = new(Batch);

    [GlobalSetup]
    public void Setup()
    {
        var records = Data.Make(Batch).Select((r, i) => r with { Sequence = i + 1 }).ToArray();
        var writer = new ArrayBufferWriter<byte>();
        var encoder = TelemetryJsonEncoder.WithSequence;
        writer.Write(encoder.BatchPrefix);
        for (int i = 0; i < records.Length; i++)
        {
            if (i > 0) writer.Write(encoder.RecordSeparator);
            encoder.WriteRecord(writer, records[i]);
        }
        writer.Write(encoder.BatchSuffix);
        _payload = writer.WrittenSpan.ToArray();
        _segmented = SegmentedSequence.Split(_payload, 4096);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch, Description = "naive: JsonSerializer.Deserialize<List<Dto>> + map")]
    public int Naive()
    {
        var dtos = JsonSerializer.Deserialize<List<RecordDto>>(_payload)!;
        var records = new List<TelemetryRecord>(dtos.Count);
        foreach (var d in dtos)
            records.Add(new TelemetryRecord(d.D, d.M, d.V, DateTimeOffset.FromUnixTimeMilliseconds(d.T)) { Sequence = d.S });
        return records.Count;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "TelemetryJson.ReadBatch (new list per batch)")]
    public int ReadBatch() => TelemetryJson.ReadBatch(_payload).Count;

    [Benchmark(OperationsPerInvoke = Batch, Description = "TelemetryRecord.DecodeBatch, span, reused list")]
    public int DecoderSpan()
    {
        _output.Clear();
        return TelemetryRecord.DecodeBatch(_payload, _output);
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "TelemetryRecord.DecodeBatch, 4 KB segments, reused list")]
    public int DecoderSequence()
    {
        _output.Clear();
        return TelemetryRecord.DecodeBatch(_segmented, _output);
    }

    /// <summary>What a user without the SDK's decoder would write: a DTO with the wire's short names.</summary>
    public sealed class RecordDto
    {
        [JsonPropertyName("d")] public string D { get; set; } = "";
        [JsonPropertyName("m")] public string M { get; set; } = "";
        [JsonPropertyName("v")] public double V { get; set; }
        [JsonPropertyName("t")] public long T { get; set; }
        [JsonPropertyName("s")] public long? S { get; set; }
    }
}

/// <summary>
/// `decode-smoke [rounds]`: the <see cref="DecodeBenchmarks"/> methods round-robin, timed by wall clock and by this
/// process's CPU time (DECODE_ONLY=<part of a name> selects methods). On a machine shared by other builds the wall figures swing with load; CPU time per record does not
/// count the time the scheduler gave to other processes, so it is the steadier cross-check.
/// </summary>
public static class DecodeSmoke
{
    private const int BatchesPerSample = 2000;

    public static void Run(int rounds)
    {
        var bench = new DecodeBenchmarks();
        bench.Setup();
        var methods = new (string Name, Func<int> Run)[]
        {
            ("naive JsonSerializer (baseline)", bench.Naive),
            ("TelemetryJson.ReadBatch", bench.ReadBatch),
            ("decoder, span, reused list", bench.DecoderSpan),
            ("decoder, 4 KB segments, reused list", bench.DecoderSequence),
        };
        // DECODE_ONLY=<part of a method name> runs just the matching methods, for a profile of one path (perf record).
        if (Environment.GetEnvironmentVariable("DECODE_ONLY") is { Length: > 0 } only)
            methods = methods.Where(m => m.Name.Contains(only, StringComparison.OrdinalIgnoreCase)).ToArray();
        var wall = methods.Select(_ => new List<double>()).ToArray();
        var cpu = methods.Select(_ => new List<double>()).ToArray();
        var self = System.Diagnostics.Process.GetCurrentProcess();
        for (int round = 0; round <= rounds; round++)
        {
            for (int m = 0; m < methods.Length; m++)
            {
                self.Refresh();
                var cpu0 = self.TotalProcessorTime;
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                int records = 0;
                for (int i = 0; i < BatchesPerSample; i++) records += methods[m].Run();
                var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start);
                self.Refresh();
                if (round == 0) continue; // warm-up round (tiering)
                wall[m].Add(elapsed.TotalNanoseconds / records);
                cpu[m].Add((self.TotalProcessorTime - cpu0).TotalNanoseconds / records);
            }
        }
        static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        double baseCpu = Median(cpu[0]);
        Console.WriteLine($"decode-smoke: {rounds} rounds of {BatchesPerSample} batches x 512 records per method, interleaved; medians");
        Console.WriteLine("| method | wall ns/record | records/s (wall) | CPU ns/record | records/s per CPU-second | CPU ratio to baseline |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        for (int m = 0; m < methods.Length; m++)
        {
            double w = Median(wall[m]), c = Median(cpu[m]);
            Console.WriteLine($"| {methods[m].Name} | {w:N0} | {1e9 / w:N0} | {c:N0} | {1e9 / c:N0} | {c / baseCpu:N2} |");
        }
    }
}
