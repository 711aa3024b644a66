using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Analytics.Tests;

/// <summary>The exporter on a live provider channel: devices publish over mutual TLS to the Local provider's broker, and
/// the exporter spools the channel and writes the lake.</summary>
public sealed class LocalProviderChannelTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Telemetry_published_by_devices_reaches_the_lake_through_the_local_channel()
    {
        await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = _dir.Sub("fleet.db") });
        using var exporter = new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")),
            new LakeExportOptions { FlushInterval = TimeSpan.FromMilliseconds(50) });
        using var stop = new CancellationTokenSource();
        var run = exporter.RunAsync(provider.Telemetry, stop.Token);

        const int Devices = 3, PerDevice = 200;
        for (int d = 0; d < Devices; d++)
        {
            string id = $"pump-{d}";
            var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 });
            await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registration.Credential! });
            await device.ConnectAsync();
            for (int i = 0; i < PerDevice; i++)
                await device.SendTelemetryAsync(new TelemetryRecord(id, "pressure", d * 1000 + i, Fleet.Start.AddSeconds(i)));
            await device.FlushAsync();
        }

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (exporter.RecordsExported < Devices * PerDevice) await Task.Delay(20, bound.Token);
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        using var db = new LakeDb(_dir.Sub("lake"));
        Assert.Equal(Devices * PerDevice, db.Long("SELECT count(*) FROM lake"));
        foreach (var row in db.Rows("SELECT device_id, count(*), min(value), max(value) FROM lake GROUP BY device_id ORDER BY device_id"))
        {
            int d = int.Parse(((string)row[0])["pump-".Length..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(PerDevice, Convert.ToInt64(row[1], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(d * 1000.0, (double)row[2]);
            Assert.Equal(d * 1000.0 + PerDevice - 1, (double)row[3]);
        }
    }
}

public sealed class LocalProviderChannelFailureTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task When_the_lake_cannot_be_written_the_channel_export_ends_with_the_sink_error_instead_of_waiting_for_more_telemetry()
    {
        await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = _dir.Sub("fleet.db") });
        // A real, unwritable lake: a regular file where the partition folder must go.
        Directory.CreateDirectory(_dir.Sub("lake"));
        await File.WriteAllTextAsync(Path.Combine(_dir.Sub("lake"), "date=2026-12-07"), "in the way");
        using var exporter = new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")),
            new LakeExportOptions { FlushInterval = TimeSpan.FromMilliseconds(20), MaxConsecutiveFailures = 2, RetryDelay = TimeSpan.FromMilliseconds(20) });
        var run = exporter.RunAsync(provider.Telemetry, CancellationToken.None);

        var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-x", Credential = CredentialRequest.X509 });
        await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "pump-x", Credential = registration.Credential! });
        await device.ConnectAsync();
        for (int i = 0; i < 10; i++) await device.SendTelemetryAsync(new TelemetryRecord("pump-x", "pressure", i, Fleet.Start.AddSeconds(i)));
        await device.FlushAsync();

        // No more telemetry arrives: the export must still end, with the sink's error, within a bound.
        await Assert.ThrowsAnyAsync<IOException>(() => run.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(10, exporter.PendingCount);
    }
}
