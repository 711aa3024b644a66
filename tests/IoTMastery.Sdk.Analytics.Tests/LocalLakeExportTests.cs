using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Parquet;

namespace IoTMastery.Sdk.Analytics.Tests;

public sealed class LocalLakeExportTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Export_writes_hive_partitions_that_duckdb_counts_and_aggregates_exactly()
    {
        // 30 000 readings of 10 devices, one per device per second from 04:30: they span hours 04 to 05 (~50 min).
        // Pending in the default spool of a directory lake, <lake>/_spool, which DuckDB's glob below must skip.
        var records = Fleet.Records(30_000);
        Fleet.Spool(Path.Combine(_dir.Sub("lake"), "_spool"), records);
        using var exporter = new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")),
            new LakeExportOptions { MaxRecordsPerFile = 4_000, RowGroupRecords = 1_000 });
        Assert.Equal(30_000, exporter.PendingCount);

        long exported = await exporter.ExportPendingAsync();

        Assert.Equal(30_000, exported);
        Assert.Equal(0, exporter.PendingCount);
        var partitions = Directory.GetDirectories(_dir.Sub("lake"), "hour=*", SearchOption.AllDirectories)
            .Select(d => Path.GetRelativePath(_dir.Sub("lake"), d).Replace('\\', '/')).Order().ToArray();
        Assert.Equal(["date=2026-12-07/hour=04", "date=2026-12-07/hour=05"], partitions);
        Assert.Empty(Directory.GetFiles(_dir.Sub("lake"), "*.tmp", SearchOption.AllDirectories));

        using var db = new LakeDb(_dir.Sub("lake"));
        Assert.Equal(30_000, db.Long("SELECT count(*) FROM lake"));
        Assert.Equal(30_000, db.Long("SELECT count(DISTINCT position) FROM lake"));
        // 04:30..04:59:59 is 1 800 s x 10 devices; the rest falls into hour 05.
        Assert.Equal(18_000, db.Long("SELECT count(*) FROM lake WHERE date = '2026-12-07' AND hour = 4"));
        Assert.Equal(0, db.Long("SELECT count(*) FROM lake WHERE hour(device_time) <> hour"));
        // Per-device aggregates equal the ones computed from the source records.
        foreach (var row in db.Rows("SELECT device_id, metric, count(*), avg(value), min(value), max(value) FROM lake GROUP BY ALL"))
        {
            var expected = records.Where(r => r.DeviceId == (string)row[0] && r.Metric == (string)row[1]).Select(r => r.Value).ToArray();
            Assert.Equal(expected.Length, Convert.ToInt64(row[2], CultureInfo.InvariantCulture));
            Assert.Equal(expected.Average(), (double)row[3], 9);
            Assert.Equal(expected.Min(), (double)row[4]);
            Assert.Equal(expected.Max(), (double)row[5]);
        }
        // Each record landed with its own values and device timestamp (position is 1-based in the outbox).
        var sample = db.Rows("SELECT device_id, metric, value, device_time, position FROM lake WHERE position IN (1, 12345, 30000) ORDER BY position");
        foreach (var row in sample)
        {
            var source = records[Convert.ToInt32(row[4], CultureInfo.InvariantCulture) - 1];
            Assert.Equal(source.DeviceId, row[0]);
            Assert.Equal(source.Metric, row[1]);
            Assert.Equal(source.Value, (double)row[2]);
            Assert.Equal(source.Timestamp.UtcDateTime, ((DateTime)row[3]).ToUniversalTime(), TimeSpan.FromMilliseconds(1));
        }
    }

    [Fact]
    public async Task Duckdb_prunes_partitions_so_a_filtered_query_never_opens_other_hours()
    {
        Fleet.Spool(Path.Combine(_dir.Sub("lake"), "_spool"), Fleet.Records(30_000));
        using (var exporter = new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")))) await exporter.ExportPendingAsync();
        // A file that is not Parquet at all in another hour: any query that opened it would fail.
        var poisoned = Directory.CreateDirectory(Path.Combine(_dir.Sub("lake"), "date=2026-12-07", "hour=23")).FullName;
        await File.WriteAllTextAsync(Path.Combine(poisoned, "part-00000000000099999999.parquet"), "not parquet");

        using var db = new LakeDb(_dir.Sub("lake"));
        Assert.Equal(18_000, db.Long("SELECT count(*) FROM lake WHERE date = '2026-12-07' AND hour = 4"));
        Assert.ThrowsAny<Exception>(() => db.Long("SELECT count(*) FROM lake"));
    }

    [Theory]
    [InlineData(CompressionMethod.Snappy, "SNAPPY")]
    [InlineData(CompressionMethod.Zstd, "ZSTD")]
    [InlineData(CompressionMethod.Gzip, "GZIP")]
    [InlineData(CompressionMethod.None, "UNCOMPRESSED")]
    public async Task Compression_is_snappy_by_default_and_each_supported_method_reads_back_in_DuckDB(CompressionMethod compression, string codec)
    {
        Fleet.Spool(Path.Combine(_dir.Sub("lake"), "_spool"), Fleet.Records(5_000));
        var options = compression == CompressionMethod.Snappy ? new LakeExportOptions() : new LakeExportOptions { Compression = compression };
        using (var exporter = new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")), options)) await exporter.ExportPendingAsync();

        using var db = new LakeDb(_dir.Sub("lake"));
        var codecs = db.Rows($"SELECT DISTINCT compression FROM parquet_metadata('{_dir.Sub("lake")}/**/*.parquet')").Select(r => (string)r[0]).ToArray();
        Assert.Equal([codec], codecs);
        Assert.Equal(5_000, db.Long("SELECT count(*) FROM lake"));
    }

    [Fact]
    public async Task A_crash_after_the_file_is_written_but_before_the_acknowledgement_rewrites_the_same_key()
    {
        var spool = Fleet.SpoolOptions(_dir.Sub("spool"));
        Fleet.Spool(spool.Directory, Fleet.Records(10_000));
        var lake = ILakeSink.Directory(_dir.Sub("lake"));
        var crashing = new CrashAfterWriteSink(lake);

        using (var first = new TelemetryLakeExporter(crashing, new LakeExportOptions { MaxRecordsPerFile = 3_000, Spool = spool }))
        {
            await Assert.ThrowsAsync<IOException>(() => first.ExportPendingAsync());
            Assert.Equal(10_000, first.PendingCount);
        }
        var firstKeys = crashing.Keys;
        Assert.Single(firstKeys);

        // The restart on the same spool reads bigger batches: the same first position gives the same key, replaced by a file holding more.
        using var exporter = new TelemetryLakeExporter(lake, new LakeExportOptions { MaxRecordsPerFile = 8_000, Spool = spool });
        await exporter.ExportPendingAsync();
        Assert.Equal(0, exporter.PendingCount);

        var files = Directory.GetFiles(_dir.Sub("lake"), "*.parquet", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(_dir.Sub("lake"), f).Replace('\\', '/')).Order().ToArray();
        Assert.Contains(firstKeys[0], files);
        using var db = new LakeDb(_dir.Sub("lake"));
        Assert.Equal(10_000, db.Long("SELECT count(*) FROM lake"));
        Assert.Equal(10_000, db.Long("SELECT count(DISTINCT position) FROM lake"));
        Assert.Equal(8_000, db.Long($"SELECT count(*) FROM read_parquet('{Path.Combine(_dir.Sub("lake"), firstKeys[0])}')"));
    }

    [Fact]
    public async Task A_failing_sink_leaves_every_record_pending_and_run_gives_up_after_the_bound()
    {
        Fleet.Spool(Path.Combine(_dir.Sub("lake"), "_spool"), Fleet.Records(100));
        // A real, unwritable target: a regular file where the lake's partition folder must go.
        await File.WriteAllTextAsync(Path.Combine(_dir.Sub("lake"), "date=2026-12-07"), "in the way");
        var time = new FakeTimeProvider(Fleet.Start);
        using var exporter = new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")),
            new LakeExportOptions { FlushInterval = TimeSpan.FromSeconds(1), MaxConsecutiveFailures = 3, RetryDelay = TimeSpan.FromSeconds(1) }, time);

        var run = exporter.RunAsync(new SilentChannel(), CancellationToken.None);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!run.IsCompleted)
        {
            bound.Token.ThrowIfCancellationRequested();
            time.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Delay(5, bound.Token);
        }
        await Assert.ThrowsAnyAsync<IOException>(() => run);
        Assert.Equal(100, exporter.PendingCount);
        Assert.Equal(0, exporter.RecordsExported);
    }

    [Fact]
    public async Task Run_waits_for_the_flush_interval_before_writing_a_small_file()
    {
        Fleet.Spool(Path.Combine(_dir.Sub("lake"), "_spool"), Fleet.Records(10));
        var time = new FakeTimeProvider(Fleet.Start);
        using var exporter = new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")),
            new LakeExportOptions { FlushInterval = TimeSpan.FromSeconds(30) }, time);
        using var stop = new CancellationTokenSource();
        var run = exporter.RunAsync(new SilentChannel(), stop.Token);

        for (int i = 0; i < 29 * 10; i++) { time.Advance(TimeSpan.FromMilliseconds(100)); await Task.Delay(1); }
        Assert.Equal(0, exporter.RecordsExported);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (exporter.RecordsExported < 10)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(5, bound.Token);
        }
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, exporter.PendingCount);
        Assert.Single(Directory.GetFiles(_dir.Sub("lake"), "*.parquet", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData("MaxRecordsPerFile")]
    [InlineData("RowGroupRecords")]
    [InlineData("FlushInterval")]
    [InlineData("MaxConsecutiveFailures")]
    [InlineData("RetryDelay")]
    [InlineData("Compression")]
    public void Bad_options_are_refused_naming_the_option(string name)
    {
        var options = name switch
        {
            "MaxRecordsPerFile" => new LakeExportOptions { MaxRecordsPerFile = 0 },
            "RowGroupRecords" => new LakeExportOptions { RowGroupRecords = 0 },
            "FlushInterval" => new LakeExportOptions { FlushInterval = TimeSpan.Zero },
            "MaxConsecutiveFailures" => new LakeExportOptions { MaxConsecutiveFailures = 0 },
            "RetryDelay" => new LakeExportOptions { RetryDelay = TimeSpan.FromSeconds(-1) },
            _ => new LakeExportOptions { Compression = CompressionMethod.Lzo },
        };
        var error = Assert.Throws<ArgumentException>(() => new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")), options));
        Assert.Equal(name, error.ParamName);
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CompressionMethod.Lzo)]
    [InlineData(CompressionMethod.Brotli)]
    [InlineData(CompressionMethod.LZ4)]
    [InlineData((CompressionMethod)99)]
    public void A_compression_method_outside_the_supported_four_is_refused_before_any_file(CompressionMethod compression)
    {
        var error = Assert.Throws<ArgumentException>(() => new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")), new LakeExportOptions { Compression = compression }));
        Assert.Equal("Compression", error.ParamName);
        Assert.False(Directory.Exists(_dir.Sub("lake")) && Directory.EnumerateFileSystemEntries(_dir.Sub("lake")).Any());
    }

    [Fact]
    public void A_sink_other_than_a_directory_needs_a_spool_and_is_refused_before_touching_disk()
    {
        var wrapped = new CrashAfterWriteSink(ILakeSink.Directory(_dir.Sub("lake")));

        var error = Assert.Throws<ArgumentException>(() => new TelemetryLakeExporter(wrapped));

        Assert.Equal("options", error.ParamName);
        Assert.Contains("LakeExportOptions.Spool", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Sub("lake")));
    }

    [Fact]
    public void Bad_spool_options_are_refused_naming_the_option()
    {
        var options = new LakeExportOptions { Spool = new TelemetryOutboxOptions { Directory = _dir.Sub("spool"), SegmentBytes = 1 } };

        var error = Assert.ThrowsAny<ArgumentException>(() => new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")), options));

        Assert.Equal("SegmentBytes", error.ParamName);
        Assert.False(Directory.Exists(_dir.Sub("spool")));
    }

    [Fact]
    public async Task One_exporter_per_spool_and_a_disposed_exporter_leaves_its_records_for_the_next()
    {
        Fleet.Spool(Path.Combine(_dir.Sub("lake"), "_spool"), Fleet.Records(50));
        var lake = ILakeSink.Directory(_dir.Sub("lake"));
        var first = new TelemetryLakeExporter(lake);

        Assert.Throws<IOException>(() => new TelemetryLakeExporter(lake));
        first.Dispose();
        Assert.Throws<ObjectDisposedException>(() => first.PendingCount);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => first.ExportPendingAsync());

        using var second = new TelemetryLakeExporter(lake);
        Assert.Equal(50, second.PendingCount);
        Assert.Equal(50, await second.ExportPendingAsync());
    }

    [Theory]
    [InlineData("../escape.parquet")]
    [InlineData("/abs.parquet")]
    [InlineData("a//b.parquet")]
    [InlineData("a\\b.parquet")]
    public async Task A_key_that_could_leave_the_lake_is_refused_before_touching_disk(string key)
    {
        var sink = ILakeSink.Directory(_dir.Sub("lake"));
        using var content = new MemoryStream([1, 2, 3]);
        await Assert.ThrowsAsync<ArgumentException>(() => sink.WriteAsync(key, content, CancellationToken.None));
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Sub("lake")));
        Assert.False(File.Exists(Path.Combine(_dir.Path, "escape.parquet")));
    }

    /// <summary>The real local sink; after its first durable write it fails, as a process dying before the acknowledgement would.</summary>
    private sealed class CrashAfterWriteSink(ILakeSink inner) : ILakeSink
    {
        public List<string> Keys { get; } = [];

        public string Description => inner.Description;

        public async Task WriteAsync(string key, Stream content, CancellationToken cancellationToken)
        {
            await inner.WriteAsync(key, content, cancellationToken);
            Keys.Add(key);
            throw new IOException("simulated crash after the file was made durable");
        }
    }
}
