using Amazon.Runtime;
using Amazon.S3;

namespace IoTMastery.Sdk.Analytics;

/// <summary>
/// Where <see cref="TelemetryLakeExporter"/> puts finished Parquet files: a local directory (<see cref="Directory"/>),
/// S3-compatible object storage (<see cref="S3"/>), or your own implementation (for example a Kafka topic).
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

    // The two built-in sinks are reached through these factories rather than as public classes: callers only ever need an
    // ILakeSink, and it keeps the package's exported types to the exporter, its options and this interface.

    /// <summary>The smallest part S3 accepts (except the last), 5 MiB: the floor of <see cref="S3"/>'s sizes.</summary>
    const int S3MinPartBytes = S3LakeSink.MinPartBytes;

    /// <summary>
    /// A lake in a local directory: each file goes to a temporary name in its partition folder, is fsync'd, and is renamed
    /// over <c>key</c>, so readers see whole files only and a file that was acknowledged survives an OS crash. A temporary
    /// file left by a process killed mid-write is deleted when the same key is written again, which the exporter does after a crash.
    /// </summary>
    /// <param name="rootDirectory">The lake's root; created if missing. <see cref="Description"/> is its absolute path.</param>
    /// <exception cref="ArgumentException"><paramref name="rootDirectory"/> is empty.</exception>
    static ILakeSink Directory(string rootDirectory) => new LocalDirectoryLakeSink(rootDirectory);

    /// <summary>
    /// A lake in S3 or any S3-compatible store (MinIO, Cloudflare R2, Google Cloud Storage's XML interop, moto), under
    /// <c>s3://<paramref name="bucket"/>/<paramref name="prefix"/></c>: a single PUT up to <paramref name="multipartThreshold"/>,
    /// a multipart upload above it. Both become visible only when complete, and a failed multipart upload is aborted so no
    /// parts are left behind. Transient faults are retried by the AWS SDK's own bounded retry policy (repeating a PUT of
    /// the same key with the same bytes is idempotent).
    /// </summary>
    /// <param name="client">The S3 client; for an S3-compatible endpoint, one from <see cref="CreateS3Client"/>. Not disposed by the sink.</param>
    /// <param name="bucket">An existing bucket.</param>
    /// <param name="prefix">Put before every key, such as <c>telemetry/</c>; empty for the bucket's root. Must end with '/' when not empty.</param>
    /// <param name="multipartThreshold">Files larger than this use a multipart upload; 16 MiB by default, at least <see cref="S3MinPartBytes"/>.</param>
    /// <param name="partBytes">The size of each part but the last; 8 MiB by default, 5 MiB to 512 MiB.</param>
    /// <exception cref="ArgumentException">A name or size breaks a rule; the message names it.</exception>
    static ILakeSink S3(IAmazonS3 client, string bucket, string prefix = "", long multipartThreshold = 16 * 1024 * 1024, int partBytes = 8 * 1024 * 1024) =>
        new S3LakeSink(client, bucket, prefix, multipartThreshold, partBytes);

    /// <summary>
    /// A client for an S3-compatible endpoint: path-style addressing (no bucket DNS names needed) and checksums only where
    /// the API requires them, which MinIO, R2 and GCS interop accept.
    /// </summary>
    /// <param name="serviceUrl">The endpoint, such as <c>http://127.0.0.1:9000/</c> or <c>https://ACCOUNT.r2.cloudflarestorage.com</c>.</param>
    /// <param name="credentials">Access key and secret; never logged.</param>
    /// <param name="region">The signing region; <c>us-east-1</c> by default (R2 wants <c>auto</c>).</param>
    /// <exception cref="ArgumentException"><paramref name="serviceUrl"/> is not an absolute http(s) URL.</exception>
    static IAmazonS3 CreateS3Client(Uri serviceUrl, AWSCredentials credentials, string region = "us-east-1") =>
        S3LakeSink.CreateClient(serviceUrl, credentials, region);
}
