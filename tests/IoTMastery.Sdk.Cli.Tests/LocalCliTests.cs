using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// The tool as a process against a Local fleet: the registry file given by IoT:Local:&lt;name&gt;:DatabasePath, opened by the
/// tool exactly as an application opens it (each command is a separate process, so state survives only through the file).
/// </summary>
public sealed class LocalCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-local-").FullName;
    private readonly string _config;

    public LocalCliTests()
    {
        _config = Path.Combine(_dir, "appsettings.json");
        File.WriteAllText(_config, new JsonObject
        {
            ["IoT"] = new JsonObject { ["Local"] = new JsonObject { ["edge"] = new JsonObject { ["DatabasePath"] = Path.Combine(_dir, "fleet.db") } } },
        }.ToJsonString());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<IotmRun> Iotm(params string[] args) => IotmProcess.RunAsync(["--provider", "local", "--config", _config, .. args]);

    private static JsonNode Json(IotmRun run) => run.Json();

    [Fact]
    public async Task Register_writes_an_owner_only_bundle_and_prints_only_its_path()
    {
        var bundles = Path.Combine(_dir, "bundles");
        var run = await Iotm("devices", "register", "pump-1", "--attr", "site=north", "--out", bundles, "-o", "json");
        var device = Json(run);
        Assert.Equal("pump-1", (string?)device["id"]);
        Assert.Equal("north", (string?)device["attributes"]!["site"]);
        var bundle = (string)device["issued"]!["bundle"]!;
        Assert.StartsWith(bundles, bundle, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", run.Stderr, StringComparison.Ordinal);

        var key = Path.Combine(bundle, "private-key.pem");
        Assert.Contains("PRIVATE KEY", await File.ReadAllTextAsync(key), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, Modes.Of(key));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, Modes.Of(bundle));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, Modes.Of(bundles));
        Assert.True(File.Exists(Path.Combine(bundle, "certificate.pem")));

        // A second process sees the device through the database file.
        var shown = Json(await Iotm("devices", "show", "pump-1", "-o", "json"));
        Assert.Equal("active", (string?)shown["credentials"]![0]!["status"]);
    }

    [Fact]
    public async Task A_secret_with_nowhere_to_go_is_refused_before_anything_is_registered()
    {
        var refused = await Iotm("devices", "register", "pump-2");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("--out", refused.Stderr, StringComparison.Ordinal);
        var list = Json(await Iotm("devices", "list", "-o", "json"));
        Assert.Empty(list.AsArray());

        var shown = await Iotm("devices", "register", "pump-2", "--show-secrets", "-o", "json");
        Assert.Contains("PRIVATE KEY", (string?)Json(shown)["issued"]!["privateKeyPem"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_out_folder_that_cannot_be_written_is_refused_before_the_device_is_registered()
    {
        // A regular file where a folder must go: no bundle can be written there, so the credential would be issued and lost.
        var blocker = Path.Combine(_dir, "not-a-folder");
        await File.WriteAllTextAsync(blocker, "x");
        var refused = await Iotm("devices", "register", "pump-6", "--out", Path.Combine(blocker, "bundles"));
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("--out", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, (await Iotm("devices", "show", "pump-6")).ExitCode);
    }

    [Fact]
    public async Task Errors_map_to_the_documented_exit_codes()
    {
        Assert.Equal(0, (await Iotm("devices", "register", "pump-3", "--credential", "none")).ExitCode);
        var notFound = await Iotm("devices", "show", "nope");
        Assert.Equal(2, notFound.ExitCode);
        Assert.Contains("DeviceNotFound (Local", notFound.Stderr, StringComparison.Ordinal);
        Assert.Equal(3, (await Iotm("devices", "register", "pump-3", "--credential", "none")).ExitCode);
        Assert.Equal(1, (await Iotm("devices", "register", "bad id/with slash", "--credential", "none")).ExitCode);
        Assert.Equal(1, (await Iotm("devices", "delete", "pump-3")).ExitCode); // needs --yes
        Assert.Equal(1, (await Iotm("devices", "list", "--output", "xml")).ExitCode);
        Assert.Equal(1, (await Iotm("telemetry", "tail")).ExitCode); // unbounded
        Assert.Equal(1, (await Iotm("state", "set", "pump-3", "--desired", "[1]")).ExitCode);

        var first = Json(await Iotm("state", "set", "pump-3", "--desired", """{"rate":5}""", "-o", "json"));
        var version = (long)first["desiredVersion"]!;
        var stale = await Iotm("state", "set", "pump-3", "--desired", """{"rate":6}""", "--expected-version", (version + 7).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(3, stale.ExitCode);
        var state = Json(await Iotm("state", "get", "pump-3", "-o", "json"));
        Assert.Equal(5, (int)state["desired"]!["rate"]!);

        Assert.Equal("disabled", (string?)Json(await Iotm("devices", "disable", "pump-3", "-o", "json"))["status"]);
        Assert.Equal(0, (await Iotm("devices", "delete", "pump-3", "--yes")).ExitCode);
        Assert.Equal(2, (await Iotm("devices", "show", "pump-3")).ExitCode);
    }

    [Fact]
    public async Task Devices_list_stops_after_pages_and_a_later_process_resumes_from_the_printed_token()
    {
        foreach (var id in new[] { "pg-1", "pg-2", "pg-3" })
            Assert.Equal(0, (await Iotm("devices", "register", id, "--credential", "none")).ExitCode);

        var first = await Iotm("devices", "list", "--page-size", "2", "--pages", "1", "-o", "json");
        Assert.Equal(["pg-1", "pg-2"], first.Json().AsArray().Select(d => (string?)d!["id"]));
        var marker = "--continuation-token ";
        var at = first.Stderr.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(at >= 0, first.ToString());
        var token = first.Stderr[(at + marker.Length)..].Trim();

        var rest = await Iotm("devices", "list", "--page-size", "2", "--continuation-token", token, "-o", "json");
        Assert.Equal(["pg-3"], rest.Json().AsArray().Select(d => (string?)d!["id"]));
        Assert.DoesNotContain(marker, rest.Stderr, StringComparison.Ordinal);

        // A mistyped token or page size is bad input (exit 1), refused before the database is read.
        Assert.Equal(1, (await Iotm("devices", "list", "--continuation-token", "not-a-token")).ExitCode);
        Assert.Equal(1, (await Iotm("devices", "list", "--page-size", "0")).ExitCode);
        // The token names its filters: with another filter it is refused too.
        Assert.Equal(1, (await Iotm("devices", "list", "--page-size", "2", "--status", "enabled", "--continuation-token", token)).ExitCode);
    }

    [Fact]
    public async Task Rotate_and_revoke_pick_the_only_active_credential()
    {
        var bundles = Path.Combine(_dir, "b");
        var registered = Json(await Iotm("devices", "register", "pump-4", "--out", bundles, "-o", "json"));
        var oldId = (string)registered["issued"]!["id"]!;

        var rotated = await Iotm("creds", "rotate", "pump-4", "--out", bundles, "-o", "json");
        var view = Json(rotated);
        Assert.Equal(oldId, (string?)view["replaced"]);
        var newId = (string)view["id"]!;
        Assert.NotEqual(oldId, newId);
        Assert.DoesNotContain("PRIVATE KEY", rotated.Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine((string)view["bundle"]!, "private-key.pem")));

        Assert.Equal(0, (await Iotm("creds", "revoke", "pump-4", "--credential-id", newId)).ExitCode);
        var device = Json(await Iotm("devices", "show", "pump-4", "-o", "json"));
        Assert.Contains(device["credentials"]!.AsArray(), c => (string?)c!["id"] == newId && (string?)c["status"] == "revoked");
    }

    [Fact]
    public async Task Configuration_comes_from_IOTM_environment_variables_and_several_providers_need_a_name()
    {
        var env = new Dictionary<string, string?>
        {
            ["IOTM_IoT__Local__a__DatabasePath"] = Path.Combine(_dir, "a.db"),
            ["IOTM_IoT__Local__b__DatabasePath"] = Path.Combine(_dir, "b.db"),
        };
        var ambiguous = await IotmProcess.RunAsync(["-p", "local", "devices", "list"], env);
        Assert.Equal(1, ambiguous.ExitCode);
        Assert.Contains("--name", ambiguous.Stderr, StringComparison.Ordinal);

        Assert.Equal(0, (await IotmProcess.RunAsync(["-p", "local", "--name", "b", "devices", "register", "only-in-b", "--credential", "none"], env)).ExitCode);
        var inB = await IotmProcess.RunAsync(["-p", "local", "--name", "b", "devices", "list", "-o", "json"], env);
        Assert.Single(Json(inB).AsArray());
        var inA = await IotmProcess.RunAsync(["-p", "local", "--name", "a", "devices", "list", "-o", "json"], env);
        Assert.Empty(Json(inA).AsArray());

        var noDatabase = await IotmProcess.RunAsync(["-p", "local", "devices", "list"], new Dictionary<string, string?> { ["IOTM_IoT__Local__x__Port"] = "0" });
        Assert.Equal(1, noDatabase.ExitCode);
        Assert.Contains("DatabasePath", noDatabase.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Firmware_release_and_rollout_status_watch_until_the_rollout_ends()
    {
        Assert.Equal(0, (await Iotm("devices", "register", "pump-5", "--credential", "none")).ExitCode);
        var release = Json(await Iotm("firmware", "release", "--version", "2.0.0", "--uri", "https://example.invalid/fw-2.0.0.bin",
            "--sha256", new string('a', 64), "--size", "1024", "-o", "json"));
        Assert.Equal("2.0.0", (string?)release["version"]);

        var started = Json(await Iotm("firmware", "rollout", "--release", "2.0.0", "--devices", "pump-5", "--device-timeout", "1s", "-o", "json"));
        var rolloutId = (string)started["id"]!;
        // No device is connected to take the update, so its 1 s device timeout fails it and the failure threshold stops the
        // rollout. A Local rollout advances while a process hosts the provider: here the watching tool itself.
        var watched = await Iotm("firmware", "status", rolloutId, "--watch", "--poll", "200ms", "--timeout", "60s");
        Assert.True(watched.ExitCode == 7, watched.ToString()); // ended without completing
        Assert.Contains($"{rolloutId} stopped", watched.Stdout, StringComparison.Ordinal);
        Assert.Contains("failed 1", watched.Stdout, StringComparison.Ordinal);
        var final = Json(await Iotm("firmware", "status", rolloutId, "-o", "json"));
        Assert.Equal("stopped", (string?)final["status"]);
        Assert.Equal(1, (int)final["counts"]!["failed"]!);
    }

    [Fact]
    public async Task Cost_runs_without_a_provider_and_prints_stable_json()
    {
        var run = await IotmProcess.RunAsync(["cost", "--devices", "50000", "--interval", "60s", "--record-bytes", "100", "-o", "json"]);
        var doc = Json(run);
        var aws = doc["lines"]!.AsArray().Single(l => (string?)l!["cloud"] == "aws" && (string?)l["mode"] == "packed")!;
        Assert.Equal(216.00m, (decimal)aws["monthlyCost"]!);
        Assert.Equal(50, (int)aws["recordsPerMessage"]!);

        var prices = Path.Combine(_dir, "prices.json");
        await File.WriteAllTextAsync(prices, "{ not json");
        var bad = await IotmProcess.RunAsync(["cost", "--devices", "10", "--prices", prices]);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("--prices", bad.Stderr, StringComparison.Ordinal);
    }
}
