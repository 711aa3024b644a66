using Amazon.S3;
using Amazon.S3.Model;
using IoTMastery.Sdk.CloudDoubles.Moto;

namespace IoTMastery.Sdk.Analytics.Tests;

/// <summary>
/// The S3 sink against moto's server (a real S3 API on loopback). DuckDB's httpfs extension would be downloaded at run
/// time, which this offline machine cannot do, so the objects are downloaded with the AWS SDK and queried locally.
/// </summary>
public sealed class S3LakeExportTests : IClassFixture<MotoServer>, IDisposable
{
    private readonly MotoServer _moto;
    private readonly TempDir _dir = new();

    public S3LakeExportTests(MotoServer moto) => _moto = moto;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Export_to_s3_uses_multipart_for_large_files_and_duckdb_reads_every_record_once()
    {
        using var s3 = ILakeSink.CreateS3Client(_moto.Endpoint, MotoServer.Credentials);
        string bucket = $"lake-{Guid.NewGuid():N}"[..20];
        await s3.PutBucketAsync(bucket);
        // The concrete type only for its multipart counter (internal, visible to this test project).
        var sink = (S3LakeSink)ILakeSink.S3(s3, bucket, "telemetry/", multipartThreshold: ILakeSink.S3MinPartBytes, partBytes: ILakeSink.S3MinPartBytes);
        // Random values do not compress, so the first (one-hour) file is several MiB: above the threshold, several parts.
        var random = new Random(16);
        var records = new TelemetryRecord[800_000];
        for (int i = 0; i < records.Length; i++)
            records[i] = new TelemetryRecord($"dev-{i % 50:D3}", "temperature", random.NextDouble() * 100, Fleet.Start.AddMilliseconds(i * 2));
        // An object-store lake has no folder for the spool: the spool is named, here pre-filled as a stopped exporter leaves it.
        var spool = Fleet.SpoolOptions(_dir.Sub("spool"));
        Fleet.Spool(spool.Directory, records, Fleet.Records(1_000, from: Fleet.Start.AddHours(2)));

        using var exporter = new TelemetryLakeExporter(sink, new LakeExportOptions { MaxRecordsPerFile = 800_000, Spool = spool });
        Assert.Equal(801_000, await exporter.ExportPendingAsync());

        Assert.True(sink.MultipartUploads >= 1, "the large file should have gone up as a multipart upload");
        var listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "telemetry/" });
        var keys = listed.S3Objects!.Select(o => o.Key).Order().ToArray();
        Assert.Equal("telemetry/date=2026-12-07/hour=04/part-00000000000000000001.parquet", keys[0]);
        Assert.Equal("telemetry/date=2026-12-07/hour=06/part-00000000000000800001.parquet", keys[1]);
        Assert.Equal(2, keys.Length);
        var uploads = await s3.ListMultipartUploadsAsync(bucket);
        Assert.Empty(uploads.MultipartUploads ?? []);

        foreach (var key in keys)
        {
            using var response = await s3.GetObjectAsync(bucket, key);
            var local = Path.Combine(_dir.Sub("download"), key);
            Directory.CreateDirectory(Path.GetDirectoryName(local)!);
            await using var file = File.Create(local);
            await response.ResponseStream.CopyToAsync(file);
        }
        using var db = new LakeDb(Path.Combine(_dir.Sub("download"), "telemetry"));
        Assert.Equal(801_000, db.Long("SELECT count(*) FROM lake"));
        Assert.Equal(801_000, db.Long("SELECT count(DISTINCT position) FROM lake"));
        Assert.Equal(1_000, db.Long("SELECT count(*) FROM lake WHERE hour = 6"));
        Assert.Equal(50, db.Long("SELECT count(DISTINCT device_id) FROM lake WHERE hour = 4"));
        var expectedAverage = records.Where(r => r.DeviceId == "dev-007").Average(r => r.Value);
        var average = (double)db.Rows("SELECT avg(value) FROM lake WHERE device_id = 'dev-007' AND hour = 4")[0][0];
        Assert.Equal(expectedAverage, average, 6);
    }

    [Theory]
    [InlineData("ab", "")]
    [InlineData("bucket/x", "")]
    [InlineData("bucket", "no-slash")]
    [InlineData("bucket", "../up/")]
    public void Bad_bucket_or_prefix_is_refused_before_any_request(string bucket, string prefix)
    {
        using var s3 = ILakeSink.CreateS3Client(_moto.Endpoint, MotoServer.Credentials);
        Assert.Throws<ArgumentException>(() => ILakeSink.S3(s3, bucket, prefix));
    }
}
