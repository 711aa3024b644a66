namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// <c>iotm migrate</c> from GCP-style (the Cloud IoT registry double, as ClearBlade) to Azure (the IoT Hub double). The kill
/// lands between the two calls an IoT Hub registration is: the identity (with its certificate thumbprint) exists, the twin
/// tags are in flight and the hub drops them. The resume must revoke the lost certificate, issue one whose key it keeps,
/// and put the attributes back.
/// </summary>
public sealed class MigrateGcpToAzureCliTests : IAsyncLifetime
{
    private const int Devices = 60;
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-migrate-gcp-").FullName;
    private AzureHubPeer _hub = null!;
    private readonly GcpStylePeer _gcp = new();

    public async Task InitializeAsync() => _hub = await AzureHubPeer.StartAsync();

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        await _gcp.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Dictionary<string, string?> Env()
    {
        var env = _hub.Env();
        foreach (var (k, v) in _gcp.Env()) env[k] = v;
        return env;
    }

    private Task<IIoTProvider> OpenHub() => Task.FromResult(_hub.Open());

    [Fact]
    public async Task A_migration_killed_mid_way_resumes_and_every_device_ends_migrated_exactly_once()
    {
        var scenario = new MigrationScenario("gcp", "azure", Env(), _dir, Devices);
        await using (var gcp = await _gcp.OpenAsync()) await scenario.SeedAsync(gcp);
        await scenario.PlanAsync(OpenHub);

        // Device 7's identity exists on the hub; the hub holds, then drops, the write of its tags.
        var before = await scenario.KillWhenHeldAsync(_hub.HoldFirst(r => r.Method == "PATCH" && r.Path.EndsWith("/twins/" + MigrationScenario.Id(7), StringComparison.Ordinal)));
        Assert.Equal(7, before);
        await scenario.FinishAsync(before, recovered: 1, OpenHub);
    }

    [Fact]
    public async Task A_fleet_with_ids_the_target_cannot_take_is_refused_before_anything_is_created()
    {
        await using (var gcp = await _gcp.OpenAsync())
        {
            await gcp.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1" });
            await gcp.Registry.RegisterAsync(new DeviceRegistration { Id = "pump+2" }); // '+' is a GCP id character, not an IoT Hub one
        }
        var plan = (await IotmProcess.RunAsync(["migrate", "--from", "gcp", "--to", "azure", "--dry-run", "-o", "json"], Env())).Json().AsArray();
        Assert.StartsWith("cannot migrate", (string?)plan.Single(p => (string?)p!["id"] == "pump+2")!["action"], StringComparison.Ordinal);

        var bundles = Path.Combine(_dir, "bundles");
        var run = await IotmProcess.RunAsync(["migrate", "--from", "gcp", "--to", "azure", "--out", bundles], Env());
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("pump+2", run.Stderr, StringComparison.Ordinal);
        await using var hub = _hub.Open();
        await foreach (var device in hub.Registry.ListAsync()) Assert.Fail($"{device.Id} was created although the fleet was refused");
        Assert.Empty(Directory.GetDirectories(bundles));
    }
}
