using System.CommandLine;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Amazon;
using Amazon.Runtime.Credentials;
using Amazon.S3;
using IoTMastery.Sdk.Analytics;
using Parquet;

namespace IoTMastery.Sdk.Cli;

internal static partial class IotmApp
{
    private static Command ExportCommand(TextWriter stdout, TextWriter stderr)
    {
        var to = new Option<string>("--to") { Description = "lake destination: a folder, or s3://bucket[/prefix]", Required = true };
        var endpoint = new Option<string?>("--s3-endpoint") { Description = "S3-compatible endpoint (MinIO, R2, moto); AWS S3 when omitted" };
        var region = new Option<string>("--s3-region") { Description = "S3 signing region", DefaultValueFactory = _ => "us-east-1" };
        var format = new Option<string>("--format") { Description = "file format (parquet, in Hive-style date=/hour= partitions)", DefaultValueFactory = _ => "parquet" };
        var compression = new Option<string>("--compression") { Description = "snappy | zstd", DefaultValueFactory = _ => "snappy" };
        var count = new Option<long?>("--count") { Description = "stop after this many records" };
        var duration = new Option<string?>("--duration") { Description = "stop after this long (e.g. 5m)" };
        var perFile = new Option<int?>("--max-records-per-file") { Description = "records per Parquet file at most (default 1,000,000)" };
        var spool = new Option<string?>("--spool") { Description = "folder for the export's own durable spool; give one to make a crashed export resumable (default: a temporary folder)" };
        format.AcceptOnlyFromAmong("parquet");
        compression.AcceptOnlyFromAmong("snappy", "zstd");
        var export = new Command("export", "write the provider's telemetry to a data lake (Parquet) until --count records or --duration; bounded")
        {
            to, endpoint, region, format, compression, count, duration, perFile, spool,
        };
        SetAction(export, stdout, stderr, true, async (c, ct) =>
        {
            var destination = LakeDestination.Parse(c.Parse.GetValue(to)!, c.Parse.GetValue(endpoint));
            var ownSpool = c.Parse.GetValue(spool) is null;
            var spoolFolder = c.Parse.GetValue(spool) ?? Directory.CreateTempSubdirectory("iotm-export-spool-").FullName;
            var options = new LakeExportOptions
            {
                Compression = c.Parse.GetValue(compression) == "zstd" ? CompressionMethod.Zstd : CompressionMethod.Snappy,
                MaxRecordsPerFile = c.Parse.GetValue(perFile) ?? new LakeExportOptions().MaxRecordsPerFile,
                // Named even for a folder lake: the sink is wrapped to measure it, and a temporary spool leaves the lake untouched.
                Spool = new TelemetryOutboxOptions { Directory = spoolFolder },
            };
            using var s3 = destination.Bucket is null ? null : await CreateS3Async(c.Parse.GetValue(endpoint), c.Parse.GetValue(region)!).ConfigureAwait(false);
            var sink = new MeasuredSink(destination.Bucket is { } bucket ? ILakeSink.S3(s3!, bucket, destination.Prefix) : ILakeSink.Directory(destination.Folder!));

            long leftOver, records;
            using (var exporter = new TelemetryLakeExporter(sink, options))
            {
                // What a crashed export left in its spool goes first, so a rerun with the same --spool loses nothing.
                await exporter.ExportPendingAsync(ct).ConfigureAwait(false);
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
                if (c.Parse.GetValue(duration) is { } d) bound.CancelAfter(Durations.Parse(d, "--duration"));
                var channel = c.Parse.GetValue(count) is { } n ? new FirstRecords(c.Provider.Telemetry, n) : c.Provider.Telemetry;
                // Ends when the count is reached (the channel ends) or the duration elapses (cancelled): both are normal ends.
                await exporter.RunAsync(channel, bound.Token).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                await exporter.ExportPendingAsync(ct).ConfigureAwait(false);
                leftOver = exporter.PendingCount;
                records = exporter.RecordsExported;
            }
            if (ownSpool && leftOver == 0) Directory.Delete(spoolFolder, recursive: true);
            c.Output.WriteObject(new JsonObject
            {
                ["destination"] = sink.Description,
                ["format"] = "parquet",
                ["records"] = records,
                ["files"] = sink.Files,
                ["bytes"] = sink.Bytes,
            });
            return ExitCodes.Ok;
        }, p =>
        {
            if (p.GetValue(count) is null && p.GetValue(duration) is null) throw new CliUsageException("export needs --count and/or --duration, so it always ends.");
            if (p.GetValue(count) is < 1) throw new ArgumentException("--count must be at least 1.", "--count");
            if (p.GetValue(duration) is { } d) Durations.Parse(d, "--duration");
            if (p.GetValue(perFile) is < 1) throw new ArgumentException("--max-records-per-file must be at least 1.", "--max-records-per-file");
            if (string.IsNullOrWhiteSpace(p.GetValue(region))) throw new ArgumentException("--s3-region must not be empty.", "--s3-region");
            LakeDestination.Parse(p.GetValue(to)!, p.GetValue(endpoint));
        });
        return export;
    }

    // Credentials come from the standard AWS chain (environment, profile, instance role), as for the AWS provider; never options.
    private static async Task<IAmazonS3> CreateS3Async(string? endpoint, string region)
    {
        var credentials = await DefaultAWSCredentialsIdentityResolver.GetCredentialsAsync(null).ConfigureAwait(false);
        return endpoint is null
            ? new AmazonS3Client(credentials, RegionEndpoint.GetBySystemName(region))
            : ILakeSink.CreateS3Client(new Uri(endpoint), credentials, region);
    }

    /// <summary>Where <c>--to</c> points: a folder, or an S3 bucket and key prefix.</summary>
    internal sealed record LakeDestination(string? Folder, string? Bucket, string Prefix)
    {
        public static LakeDestination Parse(string to, string? endpoint)
        {
            if (string.IsNullOrWhiteSpace(to)) throw new ArgumentException("--to needs a folder or s3://bucket/prefix.", "--to");
            if (to.StartsWith("s3://", StringComparison.Ordinal))
            {
                var rest = to["s3://".Length..];
                var slash = rest.IndexOf('/', StringComparison.Ordinal);
                var bucket = slash < 0 ? rest : rest[..slash];
                // S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens.
                if (bucket.Length is < 3 or > 63 || !bucket.All(ch => char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch) || ch is '.' or '-'))
                    throw new ArgumentException($"--to: '{bucket}' is not an S3 bucket name (3-63 lower-case letters, digits, '.' and '-').", "--to");
                if (endpoint is not null && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
                    throw new ArgumentException($"--s3-endpoint must be an absolute http or https URL; '{endpoint}' is not.", "--s3-endpoint");
                // s3://lake/telemetry names the folder telemetry/, as the AWS CLI reads it.
                var prefix = slash < 0 ? "" : rest[(slash + 1)..];
                if (prefix.Length > 0 && !prefix.EndsWith('/')) prefix += "/";
                // The sink's own key rules, checked now: building a client and a sink sends nothing.
                using (var offline = new AmazonS3Client(new Amazon.Runtime.AnonymousAWSCredentials(), new AmazonS3Config { ServiceURL = "http://127.0.0.1/" }))
                {
                    try
                    {
                        _ = ILakeSink.S3(offline, bucket, prefix);
                    }
                    catch (ArgumentException e)
                    {
                        throw new ArgumentException($"--to: {e.Message}", "--to", e);
                    }
                }
                return new LakeDestination(null, bucket, prefix);
            }
            if (endpoint is not null) throw new ArgumentException("--s3-endpoint only goes with an s3:// destination.", "--s3-endpoint");
            if (File.Exists(to)) throw new ArgumentException($"--to: '{to}' is a file, not a folder.", "--to");
            return new LakeDestination(Path.GetFullPath(to), null, "");
        }
    }

    /// <summary>The first <paramref name="count"/> records of a channel, then its end.</summary>
    private sealed class FirstRecords(ITelemetryChannel inner, long count) : ITelemetryChannel
    {
        public async IAsyncEnumerable<TelemetryRecord> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            long read = 0;
            await foreach (var record in inner.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return record;
                if (++read >= count) yield break;
            }
        }
    }

    /// <summary>Counts what reached the lake for the summary: a key written again (after a retry) replaces its earlier size.</summary>
    private sealed class MeasuredSink(ILakeSink inner) : ILakeSink
    {
        private readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal);

        public string Description => inner.Description;

        public long Files => _sizes.Count;

        public long Bytes => _sizes.Values.Sum();

        public async Task WriteAsync(string key, Stream content, CancellationToken cancellationToken)
        {
            var size = content.Length - content.Position;
            await inner.WriteAsync(key, content, cancellationToken).ConfigureAwait(false);
            _sizes[key] = size;
        }
    }
}
