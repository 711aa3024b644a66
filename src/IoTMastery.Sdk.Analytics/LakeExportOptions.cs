using Parquet;

namespace IoTMastery.Sdk.Analytics;

/// <summary>How <see cref="TelemetryLakeExporter"/> cuts telemetry into Parquet files.</summary>
public sealed record LakeExportOptions
{
    /// <summary>
    /// Where and how the exporter spools records before they reach the lake: a local directory that keeps them across
    /// crashes until their file is written (see <see cref="TelemetryLakeExporter"/>). <see langword="null"/> (the default)
    /// puts it in the lake's <c>_spool</c> folder for <see cref="ILakeSink.Directory"/>, which Spark, Hive and DuckDB's
    /// <c>*.parquet</c> globs skip as they skip every <c>_</c>-prefixed folder; any other sink needs one set. Keep the same
    /// directory across restarts: what a crashed exporter left there is exported by the next one. Its
    /// <see cref="TelemetryOutboxOptions.MaxDiskBytes"/> bounds the backlog a slow or failing sink may build up: then
    /// reading the channel pauses (or, with <see cref="BackpressureMode.DropOldest"/>, the oldest records are dropped).
    /// </summary>
    public TelemetryOutboxOptions? Spool { get; init; }

    /// <summary>The most records one file holds, 1 000 000 by default (1 to 50 000 000). Also the most records the exporter holds in memory at once.</summary>
    public int MaxRecordsPerFile { get; init; } = 1_000_000;

    /// <summary>Records per Parquet row group, 100 000 by default (1 to 50 000 000); a file smaller than that is one row group.</summary>
    public int RowGroupRecords { get; init; } = 100_000;

    /// <summary>
    /// Compression of the Parquet column chunks, as Parquet.Net names it: <see cref="CompressionMethod.Snappy"/> (the default:
    /// fast, read by every Parquet engine), <see cref="CompressionMethod.Zstd"/> (smaller files for somewhat more CPU when
    /// writing), <see cref="CompressionMethod.Gzip"/> or <see cref="CompressionMethod.None"/>. The others are refused: not
    /// every engine the lake is meant for reads them.
    /// </summary>
    public CompressionMethod Compression { get; init; } = CompressionMethod.Snappy;

    /// <summary>
    /// The longest time a record waits for a file to fill before a smaller file is written, 30 s by default (10 ms to 1 day).
    /// Shorter means fresher data and more, smaller files.
    /// </summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Consecutive failed writes to the sink after which <see cref="TelemetryLakeExporter.RunAsync"/> gives up and throws, 5 by default (1 to 100).</summary>
    public int MaxConsecutiveFailures { get; init; } = 5;

    /// <summary>The first wait after a failed write; it doubles per failure up to 30 s. 1 s by default (0 to 1 min).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    internal const int MaxFileRecordsLimit = 50_000_000;

    /// <summary>Checks every option.</summary>
    /// <exception cref="ArgumentException">An option is out of range (a <see cref="Spool"/> option included); the message names it and its limits.</exception>
    public void Validate()
    {
        if (MaxRecordsPerFile is < 1 or > MaxFileRecordsLimit)
            throw new ArgumentException($"{nameof(MaxRecordsPerFile)} must be 1 to {MaxFileRecordsLimit:N0}; got {MaxRecordsPerFile}.", nameof(MaxRecordsPerFile));
        if (RowGroupRecords is < 1 or > MaxFileRecordsLimit)
            throw new ArgumentException($"{nameof(RowGroupRecords)} must be 1 to {MaxFileRecordsLimit:N0}; got {RowGroupRecords}.", nameof(RowGroupRecords));
        if (Compression is not (CompressionMethod.Snappy or CompressionMethod.Zstd or CompressionMethod.Gzip or CompressionMethod.None))
            throw new ArgumentException($"{nameof(Compression)} must be Snappy, Zstd, Gzip or None; got {Compression}.", nameof(Compression));
        if (FlushInterval < TimeSpan.FromMilliseconds(10) || FlushInterval > TimeSpan.FromDays(1))
            throw new ArgumentException($"{nameof(FlushInterval)} must be 10 ms to 1 day; got {FlushInterval}.", nameof(FlushInterval));
        if (MaxConsecutiveFailures is < 1 or > 100)
            throw new ArgumentException($"{nameof(MaxConsecutiveFailures)} must be 1 to 100; got {MaxConsecutiveFailures}.", nameof(MaxConsecutiveFailures));
        if (RetryDelay < TimeSpan.Zero || RetryDelay > TimeSpan.FromMinutes(1))
            throw new ArgumentException($"{nameof(RetryDelay)} must be 0 to 1 minute; got {RetryDelay}.", nameof(RetryDelay));
        Spool?.Validate();
    }
}
