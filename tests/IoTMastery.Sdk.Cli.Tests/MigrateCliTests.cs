using System.Diagnostics;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.CloudDoubles.Moto;
using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary><c>iotm migrate</c> from a Local fleet file to AWS (moto), killed mid-way and resumed.</summary>
public sealed class MigrateCliTests(MotoServer moto) : IClassFixture<MotoServer>, IAsyncLifetime, IDisposable
{
    // Enough that the kill (after 3 bundles) lands mid-way, few enough that the resumed run (≈ 0.15 s per device quiet,
    // ≈ 1 s under two CI copies and a CPU hog, where 300 devices overran the 90 s process bound) ends well within its bound.
    private const int Devices = 100;

    // A migration run creates things, certificates and shadows one device at a time against moto; on a loaded 2-core box
    // that is slower than the other commands, so its runs get a wider (still finite) bound than IotmProcess.Bound.
    private static readonly TimeSpan MigrationBound = TimeSpan.FromMinutes(4);

    private static string Id(int i) => $"dev-{i:D3}";
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-migrate-").FullName;

    public Task InitializeAsync() => moto.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Dictionary<string, string?> Env => new()
    {
        ["IOTM_IoT__Local__plant__DatabasePath"] = Path.Combine(_dir, "fleet.db"),
        ["IOTM_IoT__Aws__eu__Region"] = "us-east-1",
        ["IOTM_IoT__Aws__eu__ControlPlaneEndpoint"] = moto.Endpoint.ToString(),
        ["IOTM_IoT__Aws__eu__DataPlaneEndpoint"] = moto.Endpoint.ToString(),
        ["IOTM_IoT__Aws__eu__Transport__RequestTimeout"] = "00:00:20",
        ["AWS_ACCESS_KEY_ID"] = "testing",
        ["AWS_SECRET_ACCESS_KEY"] = "testing",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };

    private static JsonNode Json(IotmRun run)
    {
        Assert.True(run.ExitCode == 0, run.ToString());
        return JsonNode.Parse(run.Stdout)!;
    }

    [Fact]
    public async Task A_migration_killed_mid_way_resumes_and_every_device_ends_migrated_exactly_once()
    {
        // Seeded in-process through the same database file the tool then opens (registering hundreds of devices one
        // process at a time would be slow); enough devices that the kill lands mid-way.
        await using (var local = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = Path.Combine(_dir, "fleet.db") }))
        {
            for (var i = 0; i < Devices; i++)
                await local.Registry.RegisterAsync(new DeviceRegistration { Id = Id(i), Attributes = new Dictionary<string, string> { ["n"] = $"{i}" } });
            await local.State.UpdateDesiredAsync(Id(3), new JsonObject { ["rate"] = 3 });
            await local.Registry.SetStatusAsync(Id(5), DeviceStatus.Disabled);
        }

        var plan = Json(await IotmProcess.RunAsync(["migrate", "--from", "local", "--to", "aws", "--dry-run", "-o", "json"], Env)).AsArray();
        Assert.Equal(Devices, plan.Count(p => (string?)p!["kind"] == "device" && ((string)p["action"]!).StartsWith("create", StringComparison.Ordinal)));
        Assert.Empty(Json(await IotmProcess.RunAsync(["-p", "aws", "devices", "list", "-o", "json"], Env)).AsArray()); // the plan changed nothing

        // Start, wait until a few devices are checkpointed, then SIGKILL the tool.
        var bundles = Path.Combine(_dir, "bundles");
        var checkpoint = Path.Combine(bundles, "migrate.checkpoint");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { IotmProcess.DllPath, "migrate", "--from", "local", "--to", "aws", "--out", bundles }) start.ArgumentList.Add(a);
        foreach (var (k, v) in Env) start.Environment[k] = v;
        var killedAfter = "";
        using (var first = Process.Start(start)!)
        {
            var deadline = Stopwatch.StartNew();
            while (!first.HasExited && BundleCount(bundles) < 3 && deadline.Elapsed < TimeSpan.FromSeconds(90)) await Task.Delay(5);
            // (The message must not read stderr eagerly: that waits for the process to end.)
            if (first.HasExited) Assert.Fail($"the migration ended before it could be killed: {await first.StandardError.ReadToEndAsync()}");
            killedAfter = $"{deadline.Elapsed} at {BundleCount(bundles)} bundles";
            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        var before = CheckpointedCount(checkpoint);
        Assert.True(before >= 3 && before < Devices, $"killed with {before} of {Devices} devices checkpointed, after {killedAfter}");

        var resumed = Json(await IotmProcess.RunFileAsync("dotnet", [IotmProcess.DllPath, "migrate", "--from", "local", "--to", "aws", "--out", bundles, "-o", "json"], Env, bound: MigrationBound));
        Assert.Equal(before, (int)resumed["devicesAlreadyDone"]!);
        Assert.Equal(Devices, (int)resumed["devicesAlreadyDone"]! + (int)resumed["devicesCreated"]! + (int)resumed["devicesRecovered"]!);

        // Every device exactly once on the target, with exactly one active credential whose key is in a bundle.
        var onAws = Json(await IotmProcess.RunAsync(["-p", "aws", "devices", "list", "-o", "json"], Env)).AsArray();
        Assert.Equal(Enumerable.Range(0, Devices).Select(Id), onAws.Select(d => (string)d!["id"]!).Order(StringComparer.Ordinal));
        foreach (var device in onAws)
        {
            var id = (string)device!["id"]!;
            Assert.True(Directory.Exists(Path.Combine(bundles, id)), $"{id}: no bundle");
            Assert.Equal(int.Parse(id[4..], System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)device["attributes"]!["n"]);
        }
        // AWS lists things without their certificates: look closely at the devices around the kill (the one it interrupted
        // may have a bundle from the killed run whose credential the resume revoked) and at both ends.
        foreach (var i in new[] { 0, Devices - 1 }.Concat(Enumerable.Range(Math.Max(0, before - 1), 4)).Distinct().Where(i => i < Devices))
        {
            var shown = Json(await IotmProcess.RunAsync(["-p", "aws", "devices", "show", Id(i), "-o", "json"], Env));
            var active = shown["credentials"]!.AsArray().Where(c => (string?)c!["status"] == "active").Select(c => (string)c!["id"]!).ToArray();
            var credential = Assert.Single(active);
            var key = Path.Combine(bundles, Id(i), credential, "private-key.pem");
            Assert.True(File.Exists(key), $"{Id(i)}: no bundle for its active credential {credential}");
            Assert.Equal(Modes.OwnerFile, Modes.Of(key));
        }
        Assert.Equal("disabled", (string?)onAws.Single(d => (string?)d!["id"] == Id(5))!["status"]);
        Assert.Equal(3, (int)Json(await IotmProcess.RunAsync(["-p", "aws", "state", "get", Id(3), "-o", "json"], Env))["desired"]!["rate"]!);

        // Idempotent: a third run changes nothing.
        var again = Json(await IotmProcess.RunFileAsync("dotnet", [IotmProcess.DllPath, "migrate", "--from", "local", "--to", "aws", "--out", bundles, "-o", "json"], Env, bound: MigrationBound));
        Assert.Equal(Devices, (int)again["devicesAlreadyDone"]!);
        Assert.Equal(0, (int)again["devicesCreated"]!);
    }

    // Bundles are written just before a device's checkpoint line; counting folders avoids reading a file being appended to.
    private static int BundleCount(string folder) => Directory.Exists(folder) ? Directory.GetDirectories(folder).Length : 0;

    private static int CheckpointedCount(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Count(c => c == '\n') : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
