using IoTMastery.Sdk.CloudDoubles.Moto;
using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary><c>iotm migrate</c> from a Local fleet file to AWS (moto), killed mid-way and resumed.</summary>
public sealed class MigrateCliTests(MotoServer moto) : IClassFixture<MotoServer>, IAsyncLifetime, IDisposable
{
    // Enough that the kill (after 3 bundles) lands mid-way, few enough that the resumed run (≈ 0.15 s per device quiet,
    // ≈ 1 s under two CI copies and a CPU hog, where 300 devices overran the 90 s process bound) ends well within its bound.
    private const int Devices = 100;

    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-migrate-").FullName;

    public Task InitializeAsync() => moto.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string FleetFile => Path.Combine(_dir, "fleet.db");

    // The firmware store is a file per provider; a temp one keeps the test's releases out of the user's default store.
    private Dictionary<string, string?> Env => new()
    {
        ["IOTM_IoT__Local__plant__DatabasePath"] = FleetFile,
        ["IOTM_IoT__Aws__eu__Region"] = "us-east-1",
        ["IOTM_IoT__Aws__eu__ControlPlaneEndpoint"] = moto.Endpoint.ToString(),
        ["IOTM_IoT__Aws__eu__DataPlaneEndpoint"] = moto.Endpoint.ToString(),
        ["IOTM_IoT__Aws__eu__Transport__RequestTimeout"] = "00:00:20",
        ["IOTM_IoT__Aws__eu__FirmwareStorePath"] = Path.Combine(_dir, "aws-firmware.db"),
        ["AWS_ACCESS_KEY_ID"] = "testing",
        ["AWS_SECRET_ACCESS_KEY"] = "testing",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };

    private async Task<IIoTProvider> OpenAws() =>
        await Aws.AwsIoTProvider.StartAsync(moto.Options(o => { o.EnsureDevicePolicy = false; o.FirmwareStorePath = Path.Combine(_dir, "aws-firmware.db"); }));

    [Fact]
    public async Task A_migration_killed_mid_way_resumes_and_every_device_ends_migrated_exactly_once()
    {
        var scenario = new MigrationScenario("local", "aws", Env, _dir, Devices);
        // Seeded in-process through the same database file the tool then opens (registering a hundred devices one
        // process at a time would be slow).
        await using (var local = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = FleetFile }))
            await scenario.SeedAsync(local);
        await scenario.PlanAsync(OpenAws);

        // Moto cannot hold a request for the test, so the kill follows the bundles on disk: after 3 of 100.
        var before = await scenario.KillAsync(scenario.AfterBundles(3));
        Assert.True(before >= 3, $"killed with {before} devices checkpointed");
        await scenario.FinishAsync(before, recovered: null, OpenAws);
    }
}
