using System.Globalization;
using Amazon.S3.Model;
using DuckDB.NET.Data;
using IoTMastery.Sdk.Analytics;
using IoTMastery.Sdk.CloudDoubles.Moto;
using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// <c>iotm export</c> from a Local fleet: devices publish over mutual TLS into the provider's durable telemetry journal
/// (IoT:Local:&lt;name&gt;:TelemetryJournal), the provider stops, and the tool, configured with the same journal, writes
/// what the devices sent to a Parquet lake, read back by DuckDB (a Parquet reader independent of the writer).
/// </summary>
public sealed class ExportCliTests(MotoServer moto) : IClassFixture<MotoServer>, IAsyncLifetime, IDisposable
{
    private const int Devices = 2, PerDevice = 150;
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 4, 30, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-export-").FullName;

    public Task InitializeAsync() => moto.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Journal => Path.Combine(_dir, "journal");

    private Dictionary<string, string?> Env => new()
    {
        ["IOTM_IoT__Local__plant__DatabasePath"] = Path.Combine(_dir, "fleet.db"),
        ["IOTM_IoT__Local__plant__TelemetryJournal__Directory"] = Journal,
        ["AWS_ACCESS_KEY_ID"] = "testing",
        ["AWS_SECRET_ACCESS_KEY"] = "testing",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };

    /// <summary>Devices send their records through the Local broker into the journal; the provider then stops, the records stay.</summary>
    private async Task PublishAsync()
    {
        await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions
        {
            DatabasePath = Path.Combine(_dir, "fleet.db"), TelemetryJournal = new TelemetryOutboxOptions { Directory = Journal },
        });
        for (var d = 0; d < Devices; d++)
        {
            var id = $"meter-{d}";
            var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 });
            await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registration.Credential! });
            await device.ConnectAsync();
            for (var i = 0; i < PerDevice; i++) await device.SendTelemetryAsync(new TelemetryRecord(id, "kwh", d * 1000 + i, Start.AddSeconds(i)));
            await device.FlushAsync();
        }
    }

    [Fact]
    public async Task Export_writes_what_the_devices_sent_to_a_local_parquet_lake()
    {
        await PublishAsync();
        var lake = Path.Combine(_dir, "lake");
        var summary = (await IotmProcess.RunAsync(["-p", "local", "export", "--to", lake, "--count", $"{Devices * PerDevice}", "--duration", "60s", "-o", "json"], Env)).Json();

        Assert.Equal(Devices * PerDevice, (long)summary["records"]!);
        var files = Directory.GetFiles(lake, "*.parquet", SearchOption.AllDirectories);
        Assert.Equal(files.Length, (long)summary["files"]!);
        Assert.Equal(files.Sum(f => new FileInfo(f).Length), (long)summary["bytes"]!);
        Assert.All(files, f => Assert.Contains($"date=2026-12-07{Path.DirectorySeparatorChar}hour=04", f, StringComparison.Ordinal));
        AssertLake(lake);
    }

    [Fact]
    public async Task Export_writes_to_s3_compatible_storage()
    {
        await PublishAsync();
        using var s3 = ILakeSink.CreateS3Client(moto.Endpoint, MotoServer.Credentials);
        await s3.PutBucketAsync("lake");
        var env = Env;
        var summary = (await IotmProcess.RunAsync(["-p", "local", "export", "--to", "s3://lake/telemetry", "--s3-endpoint", moto.Endpoint.ToString(),
            "--count", $"{Devices * PerDevice}", "--compression", "zstd", "-o", "json"], env)).Json();
        Assert.Equal(Devices * PerDevice, (long)summary["records"]!);

        // Fetch what the bucket holds under the prefix into a folder, keys as paths, and read it like the local lake.
        var copy = Path.Combine(_dir, "from-s3");
        var listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "lake", Prefix = "telemetry/" });
        Assert.Equal((long)summary["files"]!, listed.S3Objects.Count);
        Assert.Equal((long)summary["bytes"]!, listed.S3Objects.Sum(o => o.Size ?? 0));
        foreach (var o in listed.S3Objects)
        {
            using var got = await s3.GetObjectAsync("lake", o.Key);
            var path = Path.Combine(copy, o.Key);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using var file = File.Create(path);
            await got.ResponseStream.CopyToAsync(file);
        }
        AssertLake(Path.Combine(copy, "telemetry"));
    }

    [Theory]
    [InlineData("--to", "lake")] // no bound
    [InlineData("--to", "s3://Not_A_Bucket/x", "--count", "1")]
    [InlineData("--to", "lake", "--s3-endpoint", "http://127.0.0.1:1/", "--count", "1")]
    [InlineData("--to", "lake", "--format", "csv", "--count", "1")]
    [InlineData("--to", "lake", "--count", "0")]
    [InlineData("--to", "s3://lake/a//b", "--count", "1")]
    public async Task Bad_options_are_refused_before_anything_is_opened(params string[] args)
    {
        var run = await IotmProcess.RunAsync(["-p", "local", "export", .. args], Env, _dir);
        Assert.Equal(1, run.ExitCode);
        Assert.False(Directory.Exists(Path.Combine(_dir, "lake")), run.ToString());
        Assert.False(File.Exists(Path.Combine(_dir, "fleet.db")), "the provider was started");
    }

    private static void AssertLake(string lake)
    {
        using var db = new DuckDBConnection("DataSource=:memory:");
        db.Open();
        using var query = db.CreateCommand();
        query.CommandText = $"SELECT device_id, count(*), min(value), max(value) FROM read_parquet('{lake.Replace("'", "''", StringComparison.Ordinal)}/**/*.parquet') GROUP BY device_id ORDER BY device_id";
        using var rows = query.ExecuteReader();
        for (var d = 0; d < Devices; d++)
        {
            Assert.True(rows.Read(), $"no rows for meter-{d}");
            Assert.Equal($"meter-{d}", rows.GetString(0));
            Assert.Equal(PerDevice, Convert.ToInt64(rows.GetValue(1), CultureInfo.InvariantCulture));
            Assert.Equal(d * 1000.0, Convert.ToDouble(rows.GetValue(2), CultureInfo.InvariantCulture));
            Assert.Equal(d * 1000.0 + PerDevice - 1, Convert.ToDouble(rows.GetValue(3), CultureInfo.InvariantCulture));
        }
        Assert.False(rows.Read());
    }
}
