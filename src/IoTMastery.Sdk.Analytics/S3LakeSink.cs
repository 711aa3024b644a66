using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace IoTMastery.Sdk.Analytics;

/// <summary>
/// Writes the lake to S3 or any S3-compatible store (MinIO, Cloudflare R2, Google Cloud Storage's XML interop, moto):
/// a single PUT up to <see cref="MultipartThreshold"/>, a multipart upload above it. Both become visible only when complete,
/// and a failed multipart upload is aborted so no parts are left behind.
/// </summary>
/// <remarks>Transient faults (throttling, 5xx, dropped connections) are retried by the AWS SDK's own bounded retry policy;
/// repeating a PUT of the same key with the same bytes is idempotent, so that retry is safe.</remarks>
internal sealed class S3LakeSink : ILakeSink
{
    /// <summary>The smallest part S3 accepts (except the last), 5 MiB.</summary>
    public const int MinPartBytes = 5 * 1024 * 1024;

    private readonly IAmazonS3 _client;

    /// <summary>Creates a sink writing under <c>s3://<paramref name="bucket"/>/<paramref name="prefix"/></c>.</summary>
    /// <param name="client">The S3 client; for an S3-compatible endpoint, one from <see cref="CreateClient"/>. Not disposed by the sink.</param>
    /// <param name="bucket">An existing bucket.</param>
    /// <param name="prefix">Put before every key, such as <c>telemetry/</c>; empty for the bucket's root. Must end with '/' when not empty.</param>
    /// <param name="multipartThreshold">Files larger than this use a multipart upload; 16 MiB by default, at least <see cref="MinPartBytes"/>.</param>
    /// <param name="partBytes">The size of each part but the last; 8 MiB by default, 5 MiB to 512 MiB.</param>
    /// <exception cref="ArgumentException">A name or size breaks a rule; the message names it.</exception>
    public S3LakeSink(IAmazonS3 client, string bucket, string prefix = "", long multipartThreshold = 16 * 1024 * 1024, int partBytes = 8 * 1024 * 1024)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(bucket);
        ArgumentNullException.ThrowIfNull(prefix);
        if (bucket.Length is < 3 or > 63 || bucket.Contains('/'))
            throw new ArgumentException($"An S3 bucket name is 3 to 63 characters without '/'; got {bucket.Length} characters.", nameof(bucket));
        if (prefix.Length > 0)
        {
            if (!prefix.EndsWith('/'))
                throw new ArgumentException("A lake prefix must end with '/' (it names a folder), or be empty.", nameof(prefix));
            LakeKeys.Validate(prefix.TrimEnd('/'), nameof(prefix));
        }
        if (multipartThreshold < MinPartBytes)
            throw new ArgumentException($"The multipart threshold must be at least {MinPartBytes} bytes (S3's smallest part); got {multipartThreshold}.", nameof(multipartThreshold));
        if (partBytes is < MinPartBytes or > 512 * 1024 * 1024)
            throw new ArgumentException($"A part must be {MinPartBytes} bytes to 512 MiB; got {partBytes}.", nameof(partBytes));
        _client = client;
        Bucket = bucket;
        Prefix = prefix;
        MultipartThreshold = multipartThreshold;
        PartBytes = partBytes;
    }

    /// <summary>The bucket written to.</summary>
    public string Bucket { get; }

    /// <summary>Put before every key; empty or ending with '/'.</summary>
    public string Prefix { get; }

    /// <summary>Files larger than this many bytes are sent as a multipart upload.</summary>
    public long MultipartThreshold { get; }

    /// <summary>The size of each multipart part but the last.</summary>
    public int PartBytes { get; }

    /// <summary>Multipart uploads completed so far (an observable figure for operators and tests).</summary>
    public long MultipartUploads => Interlocked.Read(ref _multipartUploads);

    private long _multipartUploads;

    /// <inheritdoc />
    public string Description => $"s3://{Bucket}/{Prefix}";

    /// <summary>
    /// A client for an S3-compatible endpoint: path-style addressing (no bucket DNS names needed) and checksums only where
    /// the API requires them, which MinIO, R2 and GCS interop accept.
    /// </summary>
    /// <param name="serviceUrl">The endpoint, such as <c>http://127.0.0.1:9000/</c> or <c>https://ACCOUNT.r2.cloudflarestorage.com</c>.</param>
    /// <param name="credentials">Access key and secret; never logged.</param>
    /// <param name="region">The signing region; <c>us-east-1</c> by default (R2 wants <c>auto</c>).</param>
    /// <exception cref="ArgumentException"><paramref name="serviceUrl"/> is not an absolute http(s) URL.</exception>
    public static IAmazonS3 CreateClient(Uri serviceUrl, AWSCredentials credentials, string region = "us-east-1")
    {
        ArgumentNullException.ThrowIfNull(serviceUrl);
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentException.ThrowIfNullOrWhiteSpace(region);
        if (!serviceUrl.IsAbsoluteUri || serviceUrl.Scheme is not ("http" or "https"))
            throw new ArgumentException("The S3 endpoint must be an absolute http or https URL.", nameof(serviceUrl));
        var config = new AmazonS3Config
        {
            ServiceURL = serviceUrl.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = region,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        return new AmazonS3Client(credentials, config);
    }

    /// <inheritdoc />
    public async Task WriteAsync(string key, Stream content, CancellationToken cancellationToken)
    {
        LakeKeys.Validate(key, nameof(key));
        ArgumentNullException.ThrowIfNull(content);
        var objectKey = Prefix + key;
        long length = content.Length - content.Position;
        if (length <= MultipartThreshold)
        {
            await _client.PutObjectAsync(new PutObjectRequest
            {
                BucketName = Bucket,
                Key = objectKey,
                InputStream = content,
                AutoCloseStream = false,
                ContentType = "application/vnd.apache.parquet",
            }, cancellationToken).ConfigureAwait(false);
            return;
        }
        await MultipartAsync(objectKey, content, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _multipartUploads);
    }

    private async Task MultipartAsync(string objectKey, Stream content, CancellationToken cancellationToken)
    {
        var started = await _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest
        {
            BucketName = Bucket,
            Key = objectKey,
            ContentType = "application/vnd.apache.parquet",
        }, cancellationToken).ConfigureAwait(false);
        try
        {
            var parts = new List<PartETag>();
            var buffer = new byte[PartBytes];
            for (int number = 1; ; number++)
            {
                int filled = await content.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (filled == 0) break;
                using var part = new MemoryStream(buffer, 0, filled, writable: false);
                var uploaded = await _client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = Bucket,
                    Key = objectKey,
                    UploadId = started.UploadId,
                    PartNumber = number,
                    PartSize = filled,
                    InputStream = part,
                }, cancellationToken).ConfigureAwait(false);
                parts.Add(new PartETag(number, uploaded.ETag));
                if (filled < buffer.Length) break;
            }
            await _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = Bucket,
                Key = objectKey,
                UploadId = started.UploadId,
                PartETags = parts,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Not the caller's token: the abort must run even when the write was cancelled.
            try
            {
                await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest
                { BucketName = Bucket, Key = objectKey, UploadId = started.UploadId }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (AmazonServiceException) { }
            catch (HttpRequestException) { }
            throw;
        }
    }
}
