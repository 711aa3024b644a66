using System.Text.Json.Nodes;
using IoTMastery.Sdk.CloudDoubles.Moto;
using IoTMastery.Sdk.Local;
using IoTMastery.Sdk.Providers;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// <c>iotm firmware compliance</c> as a process against a Local fleet whose devices really reported their firmware: the test
/// hosts the provider on the fleet's database, connects devices that report their running version, stops, and then runs the
/// tool on the same file, as an operator would.
/// </summary>
public sealed class ComplianceCliTests : IDisposable
{
    private const string AdvisoryId = "GHSA-cli0-comp-0001";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>One OSV record: pump firmware from 1.4.0 up to the fix 1.4.3, critical.</summary>
    internal static string OsvRecord(string id) => $$"""
        {
          "schema_version": "1.6.0",
          "id": "{{id}}",
          "modified": "2026-12-01T00:00:00Z",
          "summary": "Heap overflow in the OTA parser",
          "affected": [{ "package": { "ecosystem": "Firmware", "name": "pump" },
                         "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "1.4.0" }, { "fixed": "1.4.3" }] }] }],
          "database_specific": { "severity": "CRITICAL" }
        }
        """;

    private static readonly string Osv = OsvRecord(AdvisoryId);

    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-compliance-").FullName;
    private readonly string _config;
    private readonly string _database;

    public ComplianceCliTests()
    {
        _database = Path.Combine(_dir, "fleet.db");
        _config = Path.Combine(_dir, "appsettings.json");
        File.WriteAllText(_config, new JsonObject
        {
            ["IoT"] = new JsonObject { ["Local"] = new JsonObject { ["edge"] = new JsonObject { ["DatabasePath"] = _database } } },
        }.ToJsonString());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<IotmRun> Iotm(params string[] args) => IotmProcess.RunAsync(["--provider", "local", "--config", _config, .. args]);

    [Fact]
    public async Task Compliance_imports_advisories_reports_json_and_table_fails_on_affected_and_restricts_on_request()
    {
        await SeedFleetAsync(("pump-1", "1.4.1"), ("pump-2", "1.4.2"), ("pump-3", "2.0.0"), ("pump-4", null));
        var advisories = Directory.CreateDirectory(Path.Combine(_dir, "advisories")).FullName;
        await File.WriteAllTextAsync(Path.Combine(advisories, "ghsa.json"), Osv);

        var run = await Iotm("firmware", "compliance", "--advisories", advisories, "--minimum-version", "1.4.2", "-o", "json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var report = JsonNode.Parse(run.Stdout)!;
        Assert.Equal([AdvisoryId], report["imported"]!.AsArray().Select(x => (string)x!));
        Assert.Equal(4, (int)report["deviceCount"]!);
        var advisory = report["advisories"]!.AsArray().Single()!;
        Assert.Equal((AdvisoryId, "CRITICAL", "1.4.3"), ((string)advisory["id"]!, (string?)advisory["severity"], (string?)advisory["fixedRelease"]));
        Assert.Equal(["pump-1", "pump-2"], advisory["affectedDevices"]!.AsArray().Select(x => (string)x!));
        Assert.Equal(["pump-1"], report["belowMinimumVersion"]!.AsArray().Select(x => (string)x!));
        Assert.Equal(["pump-4"], report["notReportingVersion"]!.AsArray().Select(x => (string)x!));
        Assert.Null(report["enforced"]);

        // The table, from the stored advisory (no import this time); affected devices exist, so --fail-on-affected exits 8.
        var table = await Iotm("firmware", "compliance", "--fail-on-affected");
        Assert.True(table.ExitCode == 8, table.ToString());
        Assert.Contains($"{AdvisoryId}  CRITICAL  1.4.3", table.Stdout, StringComparison.Ordinal);
        Assert.Contains("Not reporting a version: pump-4", table.Stdout, StringComparison.Ordinal);

        // Bad input is refused (exit 1) before the provider starts, and nothing of it is stored.
        var bad = Directory.CreateDirectory(Path.Combine(_dir, "bad")).FullName;
        await File.WriteAllTextAsync(Path.Combine(bad, "a.json"), Osv.Replace(AdvisoryId, "GHSA-cli0-comp-0002", StringComparison.Ordinal));
        await File.WriteAllTextAsync(Path.Combine(bad, "b.json"), """{"id": "GHSA-broken"}""");
        var refused = await Iotm("firmware", "compliance", "--advisories", bad);
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("b.json", refused.Stderr, StringComparison.Ordinal);
        var badVersion = await Iotm("firmware", "compliance", "--minimum-version", "1.5");
        Assert.True(badVersion.ExitCode == 1, badVersion.ToString());
        Assert.Contains("--minimum-version: '1.5' is not a semantic version", badVersion.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, (await Iotm("firmware", "compliance", "--enforce", "restrict")).ExitCode);
        Assert.Equal(1, (await Iotm("firmware", "compliance", "--advisories", Path.Combine(_dir, "missing.json"))).ExitCode);

        // The operator opts in: devices below the minimum are restricted, in the fleet's database for the next host.
        var enforced = await Iotm("firmware", "compliance", "--minimum-version", "1.4.2", "--enforce", "restrict", "-o", "json");
        Assert.True(enforced.ExitCode == 0, enforced.ToString());
        var after = JsonNode.Parse(enforced.Stdout)!;
        Assert.Equal(["GHSA-cli0-comp-0001"], after["advisories"]!.AsArray().Select(x => (string)x!["id"]!));
        Assert.Equal("restrict", (string?)after["enforced"]!["mode"]);
        Assert.Equal(["pump-1"], after["enforced"]!["devices"]!.AsArray().Select(x => (string)x!));
        await using var local = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = _database });
        using var store = new SqliteFirmwareStore(_database);
        var restricted = await new SecurityPatching(local, store).ListRestrictedDevicesAsync();
        Assert.Equal("1.4.2", Assert.Single(restricted, r => r.Key == "pump-1").Value);
        Assert.Single(restricted);
    }

    /// <summary>Registers the devices, creates the fixed release, and has each device with a version report it over its own connection.</summary>
    private async Task SeedFleetAsync(params (string Id, string? Version)[] devices)
    {
        using var bound = new CancellationTokenSource(Bound);
        var ct = bound.Token;
        await using var local = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = _database }, cancellationToken: ct);
        await local.Firmware.CreateReleaseAsync(new FirmwareRelease
        {
            Version = "1.4.3", Uri = new Uri("https://example.invalid/pump-1.4.3.bin"), Sha256 = new string('b', 64), SizeBytes = 2048,
        }, ct);
        foreach (var (id, version) in devices)
        {
            var registration = await local.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = new CredentialRequest { Kind = CredentialKind.X509Certificate } }, ct);
            if (version is null) continue;
            await using var connection = local.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registration.Credential! });
            await connection.ConnectAsync(ct);
            // Acknowledged by the broker only after the report is stored.
            await connection.ReportStateAsync(new JsonObject
            {
                [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildReported(new ReportedFirmware { Version = version }),
            }, ct);
        }
    }
}

/// <summary><c>iotm firmware compliance</c> as a process against moto's AWS IoT, where topics cannot be restricted per device.</summary>
public sealed class AwsComplianceCliTests(MotoServer moto) : IClassFixture<MotoServer>, IAsyncLifetime, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-aws-compliance-").FullName;

    public Task InitializeAsync() => moto.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Dictionary<string, string?> Env => MotoCliEnvironment.For(moto);

    private static Task<IotmRun> Iotm(Dictionary<string, string?> env, params string[] args) => IotmProcess.RunAsync(["--provider", "aws", .. args], env);

    private static JsonNode Json(IotmRun run)
    {
        Assert.True(run.ExitCode == 0, run.ToString());
        return JsonNode.Parse(run.Stdout)!;
    }

    [Fact]
    public async Task Compliance_reads_the_firmware_store_and_refuses_restrict_where_topics_cannot_be_restricted()
    {
        Assert.Equal(0, (await Iotm(Env, "devices", "register", "sensor-1", "--credential", "none")).ExitCode);
        var osv = Path.Combine(_dir, "advisory.json");
        await File.WriteAllTextAsync(osv, ComplianceCliTests.OsvRecord("GHSA-cli0-aws0-0001"));

        // Off Local the store is FirmwareStorePath: without it the report has nothing to read (exit 1).
        var noStore = await Iotm(Env, "firmware", "compliance");
        Assert.True(noStore.ExitCode == 1, noStore.ToString());
        Assert.Contains("FirmwareStorePath is required", noStore.Stderr, StringComparison.Ordinal);

        var env = new Dictionary<string, string?>(Env) { ["IOTM_IoT__Aws__eu__FirmwareStorePath"] = Path.Combine(_dir, "firmware.db") };
        Task<IotmRun> WithStore(params string[] args) => Iotm(env, args);
        var report = Json(await WithStore("firmware", "compliance", "--advisories", osv, "-o", "json"));
        Assert.Equal(["GHSA-cli0-aws0-0001"], report["imported"]!.AsArray().Select(x => (string)x!));
        Assert.Equal(["sensor-1"], report["notReportingVersion"]!.AsArray().Select(x => (string)x!));
        Assert.Empty(report["advisories"]![0]!["affectedDevices"]!.AsArray());

        // AWS IoT cannot hold one device to its firmware topics: refused before anything changes, and disabling is the way.
        var restrict = await WithStore("firmware", "compliance", "--minimum-version", "1.0.0", "--enforce", "restrict");
        Assert.True(restrict.ExitCode == 1, restrict.ToString());
        Assert.Contains("cannot restrict", restrict.Stderr, StringComparison.Ordinal);
        var disable = Json(await WithStore("firmware", "compliance", "--minimum-version", "1.0.0", "--enforce", "disable", "-o", "json"));
        Assert.Equal("disable", (string?)disable["enforced"]!["mode"]);
        Assert.Empty(disable["enforced"]!["devices"]!.AsArray()); // sensor-1 reports no version: unknown is not "below"
        Assert.Equal("enabled", (string?)Json(await Iotm(Env, "devices", "show", "sensor-1", "-o", "json"))["status"]);
    }
}
