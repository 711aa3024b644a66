using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary><c>iotm migrate</c> between two Local fleet files (<c>local:a</c> → <c>local:b</c>): the refusals that need no cloud.</summary>
public sealed class MigrateLocalCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-migrate-local-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Fleet(string name) => Path.Combine(_dir, name + ".db");

    private Dictionary<string, string?> Env => new()
    {
        ["IOTM_IoT__Local__a__DatabasePath"] = Fleet("a"),
        ["IOTM_IoT__Local__b__DatabasePath"] = Fleet("b"),
    };

    private static FirmwareRelease Release(char digest) =>
        new() { Version = "1.0.0", Uri = new Uri("https://firmware.example/1.0.0.bin"), Sha256 = new string(digest, 64), SizeBytes = 1 };

    [Fact]
    public async Task A_release_the_target_holds_with_a_different_image_stops_the_migration_before_any_device()
    {
        await using (var a = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = Fleet("a") }))
        {
            await a.Firmware.CreateReleaseAsync(Release('a'));
            await a.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1" });
        }
        await using (var b = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = Fleet("b") }))
            await b.Firmware.CreateReleaseAsync(Release('b'));

        var run = await IotmProcess.RunAsync(["migrate", "--from", "local:a", "--to", "local:b", "--out", Path.Combine(_dir, "bundles")], Env);
        Assert.Equal(3, run.ExitCode);
        Assert.Contains("1.0.0", run.Stderr, StringComparison.Ordinal);

        await using var target = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = Fleet("b") });
        Assert.Equal(new string('b', 64), (await target.Firmware.GetReleaseAsync("1.0.0")).Sha256);
        await foreach (var device in target.Registry.ListAsync()) Assert.Fail($"{device.Id} was migrated although the releases conflict");
    }

    [Fact]
    public async Task Migrating_a_provider_onto_itself_is_refused()
    {
        var run = await IotmProcess.RunAsync(["migrate", "--from", "local:a", "--to", "local:a", "--dry-run"], Env);
        Assert.Equal(1, run.ExitCode);
        Assert.False(File.Exists(Fleet("a")), "the provider was started");
    }
}
