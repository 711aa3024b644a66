using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// <c>iotm migrate</c> from Azure (the IoT Hub double) to a Local fleet file. The kill lands where the tool has created
/// device 7 on Local and written its bundle, and is reading its desired state from the hub (the hub holds that read), so
/// the resume must find device 7 half-made and re-credential it.
/// </summary>
public sealed class MigrateAzureToLocalCliTests : IAsyncLifetime
{
    private const int Devices = 60;
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-migrate-az-").FullName;
    private AzureHubPeer _hub = null!;

    public async Task InitializeAsync() => _hub = await AzureHubPeer.StartAsync();

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private string FleetFile => Path.Combine(_dir, "fleet.db");

    private async Task<IIoTProvider> OpenLocal() => await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = FleetFile });

    [Fact]
    public async Task A_migration_killed_mid_way_resumes_and_every_device_ends_migrated_exactly_once()
    {
        var env = _hub.Env();
        env["IOTM_IoT__Local__plant__DatabasePath"] = FleetFile;
        var scenario = new MigrationScenario("azure", "local", env, _dir, Devices);
        await using (var hub = _hub.Open()) await scenario.SeedAsync(hub);
        await scenario.PlanAsync(OpenLocal);

        // Device 7 is registered on Local and its bundle written; the hub holds the read of its desired state.
        var before = await scenario.KillWhenHeldAsync(_hub.HoldFirst(r => r.Method == "GET" && r.Path.EndsWith("/twins/" + MigrationScenario.Id(7), StringComparison.Ordinal)));
        Assert.Equal(7, before);
        await scenario.FinishAsync(before, recovered: 1, OpenLocal);
    }
}
