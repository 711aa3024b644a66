using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk.Analytics;
using Parquet;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// 1,000,000 telemetry records written to a file on local disk (fsync'd, as the lake sink does) per operation:
/// the exporter's Parquet path (writer + <see cref="ILakeSink.Directory"/>) against naive CSV and JSON-lines writers.
/// Mean is ns per record (OperationsPerInvoke).
/// </summary>
[MemoryDiagnoser]
public class LakeExportBenchmarks
{
    internal const int Records = 1_000_000;
    private TelemetryRecord[] _records = [];
    private string _directory = "";
    private ParquetTelemetryWriter _snappy = null!;
    private ParquetTelemetryWriter _zstd = null!;
    private ILakeSink _sink = null!;
    private readonly MemoryStream _buffer = new();
    private readonly DateTimeOffset _received = new(2026, 12, 7, 5, 0, 0, TimeSpan.Zero);

    [GlobalSetup]
    public void Setup()
    {
        _records = LakeData.Records(Records);
        _directory = Directory.CreateTempSubdirectory("iotm-lake-bench-").FullName;
        _snappy = new ParquetTelemetryWriter(new LakeExportOptions());
        _zstd = new ParquetTelemetryWriter(new LakeExportOptions { Compression = CompressionMethod.Zstd });
        _sink = ILakeSink.Directory(_directory);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(Baseline = true, OperationsPerInvoke = Records, Description = "naive CSV (StreamWriter)")]
    public void Csv() => LakeData.WriteCsv(_records, Path.Combine(_directory, "naive.csv"));

    [Benchmark(OperationsPerInvoke = Records, Description = "naive JSON lines (Utf8JsonWriter)")]
    public void JsonLines() => LakeData.WriteJsonLines(_records, Path.Combine(_directory, "naive.jsonl"));

    [Benchmark(OperationsPerInvoke = Records, Description = "Parquet, Snappy (exporter path)")]
    public Task ParquetSnappy() => LakeData.WriteParquetAsync(_snappy, _records, _buffer, _sink, _received, "snappy.parquet");

    [Benchmark(OperationsPerInvoke = Records, Description = "Parquet, Zstd (exporter path)")]
    public Task ParquetZstd() => LakeData.WriteParquetAsync(_zstd, _records, _buffer, _sink, _received, "zstd.parquet");
}

/// <summary>The benchmark's data and writers, shared with the <c>lake-size</c> report.</summary>
internal static class LakeData
{
    /// <summary>100 devices, 4 metrics, one reading per device every 10 ms, values with noise and 2-decimal rounding.</summary>
    public static TelemetryRecord[] Records(int count, long offset = 0)
    {
        string[] devices = Enumerable.Range(0, 100).Select(i => $"sensor-{i:D4}").ToArray();
        string[] metrics = ["temperature", "pressure", "humidity", "vibration"];
        var random = new Random(16);
        var start = new DateTimeOffset(2026, 12, 7, 4, 0, 0, TimeSpan.Zero);
        var records = new TelemetryRecord[count];
        for (int i = 0; i < count; i++)
        {
            long n = offset + i;
            records[i] = new TelemetryRecord(devices[n % 100], metrics[n / 100 % 4],
                Math.Round(20 + (n % 100) * 0.5 + random.NextDouble() * 5, 2), start.AddTicks(n * TimeSpan.TicksPerMillisecond / 10));
        }
        return records;
    }

    public static void WriteCsv(TelemetryRecord[] records, string path)
    {
        using (var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16))
        {
            writer.WriteLine("device_id,metric,value,device_time,received_time,position");
            var received = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
            for (int i = 0; i < records.Length; i++)
            {
                ref readonly var r = ref records[i];
                writer.Write(r.DeviceId); writer.Write(',');
                writer.Write(r.Metric); writer.Write(',');
                writer.Write(r.Value.ToString(CultureInfo.InvariantCulture)); writer.Write(',');
                writer.Write(r.Timestamp.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)); writer.Write(',');
                writer.Write(received); writer.Write(',');
                writer.WriteLine(i + 1);
            }
            writer.Flush();
            ((FileStream)writer.BaseStream).Flush(flushToDisk: true);
        }
    }

    public static void WriteJsonLines(TelemetryRecord[] records, string path)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        using var json = new Utf8JsonWriter(file, new JsonWriterOptions { SkipValidation = true });
        var received = DateTimeOffset.UtcNow;
        Span<byte> newline = [(byte)'\n'];
        for (int i = 0; i < records.Length; i++)
        {
            ref readonly var r = ref records[i];
            json.WriteStartObject();
            json.WriteString("device_id"u8, r.DeviceId);
            json.WriteString("metric"u8, r.Metric);
            json.WriteNumber("value"u8, r.Value);
            json.WriteString("device_time"u8, r.Timestamp.UtcDateTime);
            json.WriteString("received_time"u8, received);
            json.WriteNumber("position"u8, i + 1);
            json.WriteEndObject();
            json.Flush();
            json.Reset();
            file.Write(newline);
        }
        file.Flush(flushToDisk: true);
    }

    public static async Task WriteParquetAsync(ParquetTelemetryWriter writer, TelemetryRecord[] records, MemoryStream buffer, ILakeSink sink, DateTimeOffset received, string key)
    {
        buffer.SetLength(0);
        await writer.WriteAsync(records, null, records.Length, 1, received, buffer, CancellationToken.None);
        buffer.Position = 0;
        await sink.WriteAsync(key, buffer, CancellationToken.None);
    }

    /// <summary>
    /// `lake-size`: bytes per record of each format for 1,000,000 records, then the whole exporter (outbox → Parquet on disk)
    /// over <paramref name="totalRecords"/> records in 1,000,000-record files, with its wall-clock rate and peak working set.
    /// </summary>
    public static async Task ReportAsync(int totalRecords)
    {
        var records = Records(LakeExportBenchmarks.Records);
        var directory = Directory.CreateTempSubdirectory("iotm-lake-size-").FullName;
        try
        {
            var sink = ILakeSink.Directory(directory);
            WriteCsv(records, Path.Combine(directory, "naive.csv"));
            WriteJsonLines(records, Path.Combine(directory, "naive.jsonl"));
            var buffer = new MemoryStream();
            var at = DateTimeOffset.UtcNow;
            await WriteParquetAsync(new ParquetTelemetryWriter(new LakeExportOptions()), records, buffer, sink, at, "snappy.parquet");
            await WriteParquetAsync(new ParquetTelemetryWriter(new LakeExportOptions { Compression = CompressionMethod.Zstd }), records, buffer, sink, at, "zstd.parquet");
            foreach (var name in new[] { "naive.csv", "naive.jsonl", "snappy.parquet", "zstd.parquet" })
            {
                long bytes = new FileInfo(Path.Combine(directory, name)).Length;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-16} {bytes,12:N0} bytes  {bytes / (double)records.Length,6:F2} B/record"));
            }
            records = [];
            buffer = null;
            GC.Collect();

            // End to end through the exporter's spool, filled in chunks so the test data itself is never all in memory
            // (through the internal outbox, as a previous exporter would have left it), then exported.
            var spool = new TelemetryOutboxOptions { Directory = Path.Combine(directory, "outbox"), MaxDiskBytes = 8L << 30, FsyncInterval = null };
            using (var outbox = TelemetryOutbox.Open(spool))
            {
                for (int done = 0; done < totalRecords; done += 500_000)
                    outbox.AppendBatch(Records(Math.Min(500_000, totalRecords - done), done));
            }
            GC.Collect();
            using var exporter = new TelemetryLakeExporter(ILakeSink.Directory(Path.Combine(directory, "lake")), new LakeExportOptions { Spool = spool });
            using var process = Process.GetCurrentProcess();
            process.Refresh();
            long before = process.PeakWorkingSet64;
            var clock = Stopwatch.StartNew();
            long exported = await exporter.ExportPendingAsync();
            clock.Stop();
            process.Refresh();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"exporter, outbox -> Parquet (Snappy) on disk: {exported:N0} records in {exporter.FilesWritten} files, {clock.Elapsed.TotalSeconds:F2} s = {exported / clock.Elapsed.TotalSeconds:N0} records/s; peak working set {process.PeakWorkingSet64 / 1048576.0:N0} MiB (before export {before / 1048576.0:N0} MiB)"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
