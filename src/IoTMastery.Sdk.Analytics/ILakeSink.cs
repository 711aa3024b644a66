namespace IoTMastery.Sdk.Analytics;

/// <summary>
/// Where <see cref="TelemetryLakeExporter"/> puts finished Parquet files: a local directory (<see cref="LocalDirectoryLakeSink"/>),
/// S3-compatible object storage (<see cref="S3LakeSink"/>), or your own implementation (for example a Kafka topic).
/// </summary>
/// <remarks>
/// <para>The exporter's exactly-once guarantee rests on three rules an implementation must keep:</para>
/// <list type="number">
/// <item><description><b>Durable on return.</b> When <see cref="WriteAsync"/> returns, the object survives a crash of this
/// process (and, for a local disk, of the OS): the exporter acknowledges the records to its source right after.</description></item>
/// <item><description><b>All or nothing.</b> A reader never sees a partly written object under <c>key</c> (write elsewhere and
/// rename, or use an atomic PUT / multipart completion).</description></item>
/// <item><description><b>Replace, never add.</b> Writing a key that exists replaces the object whole: after a crash the exporter
/// writes the same key again, possibly with more records, and the old content must disappear. A sink that appends
/// (a Kafka topic, say) must deduplicate by key itself, for example with an idempotent producer keyed by <c>key</c>.</description></item>
/// </list>
/// <para>Calls come from one exporter loop, one at a time. Throw on failure: the exporter rewinds its source and tries the
/// same key again later, so a failed write must not have left a partial object visible.</para>
/// </remarks>
public interface ILakeSink
{
    /// <summary>A short description for logs, such as <c>s3://bucket/prefix/</c>; never a secret.</summary>
    string Description { get; }

    /// <summary>Stores <paramref name="content"/> (read from its current position to its end) under <paramref name="key"/>, replacing any object there.</summary>
    /// <param name="key">A relative path with <c>/</c> separators, such as <c>date=2026-12-07/hour=04/part-00000000000000000001.parquet</c>.</param>
    /// <param name="content">The file; seekable, and its <see cref="Stream.Length"/> is known.</param>
    /// <param name="cancellationToken">Stops the write; the object is then absent or as it was.</param>
    Task WriteAsync(string key, Stream content, CancellationToken cancellationToken);
}
