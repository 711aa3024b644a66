using IoTMastery.Sdk.CloudDoubles.CloudIot;
using IoTMastery.Sdk.CloudDoubles.PubSub;

namespace IoTMastery.Sdk.Analytics.Tests;

/// <summary>
/// The exporter on a cloud provider's channel: GCP-style against Google's Pub/Sub emulator, the Cloud IoT registry double
/// and Mosquitto as the bridge (the stack the GCP and contract tests use). Devices publish over MQTT; the fleet side pulls
/// from Pub/Sub; the exporter spools and writes the lake; DuckDB counts it.
/// </summary>
public sealed class GcpProviderChannelTests : IAsyncLifetime, IDisposable
{
    private readonly PubSubEmulator _emulator = new();
    private readonly TempDir _dir = new();
    private GcpProviderStack? _stack;

    public async Task InitializeAsync()
    {
        await _emulator.InitializeAsync();
        _stack = await GcpProviderStack.StartAsync(_emulator);
    }

    public async Task DisposeAsync()
    {
        if (_stack is not null) await _stack.DisposeAsync();
        await _emulator.DisposeAsync();
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Telemetry_pulled_from_pubsub_reaches_the_lake()
    {
        var provider = _stack!.Provider;
        using var exporter = new TelemetryLakeExporter(ILakeSink.Directory(_dir.Sub("lake")),
            new LakeExportOptions { FlushInterval = TimeSpan.FromMilliseconds(50) });
        using var stop = new CancellationTokenSource();
        var run = exporter.RunAsync(provider.Telemetry, stop.Token);
        // No wait for the reader: the stack creates the pull subscription up front, so Pub/Sub keeps what arrives before the first pull.

        const int PerDevice = 40;
        string[] ids = [$"gcp-a-{Guid.NewGuid():N}"[..14], $"gcp-b-{Guid.NewGuid():N}"[..14]];
        foreach (var id in ids)
        {
            var registration = await provider.Registry.RegisterAsync(new DeviceRegistration
            { Id = id, Credential = new CredentialRequest { Kind = provider.Capabilities.DefaultCredentialKind } });
            await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registration.Credential! });
            await device.ConnectAsync();
            for (int i = 0; i < PerDevice; i++)
                await device.SendTelemetryAsync(new TelemetryRecord(id, "level", i, Fleet.Start.AddSeconds(i)));
            await device.FlushAsync();
        }

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (exporter.RecordsExported < ids.Length * PerDevice) await Task.Delay(50, bound.Token);
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        using var db = new LakeDb(_dir.Sub("lake"));
        Assert.Equal(ids.Length * PerDevice, db.Long("SELECT count(*) FROM lake"));
        foreach (var id in ids)
        {
            Assert.Equal(PerDevice, db.Long($"SELECT count(DISTINCT value) FROM lake WHERE device_id = '{id}'"));
            Assert.Equal(PerDevice - 1, db.Long($"SELECT CAST(max(value) AS BIGINT) FROM lake WHERE device_id = '{id}'"));
        }
    }
}
