using System.Diagnostics;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// What every <c>iotm migrate</c> direction is held to: a source fleet (attributes, one disabled device, one nested desired
/// state, two firmware releases), a dry run that changes nothing, a run killed (SIGKILL) at a point the test chooses, a
/// resume, then a check made in the test process against the target itself, not through the tool: every device exactly
/// once with its attributes, status and desired state, exactly one active credential whose bundle is on disk owner-only,
/// every release once; and a third run that changes nothing.
/// </summary>
public sealed class MigrationScenario(string from, string to, IReadOnlyDictionary<string, string?> environment, string directory, int devices)
{
    // A migration run creates each device with several calls; on a loaded 2-core box that is slower than the other
    // commands, so its runs get a wider (still finite) bound than IotmProcess.Bound.
    private static readonly TimeSpan MigrationBound = TimeSpan.FromMinutes(4);

    private static readonly FirmwareRelease[] Releases =
    [
        new() { Version = "1.0.0", Uri = new Uri("https://firmware.example/1.0.0.bin"), Sha256 = new string('a', 64), SizeBytes = 1024 },
        new() { Version = "1.1.0", Uri = new Uri("https://firmware.example/1.1.0.bin"), Sha256 = new string('b', 64), SizeBytes = 2048 },
    ];

    private static JsonObject DesiredOfDevice3 => new() { ["rate"] = 3, ["mode"] = new JsonObject { ["eco"] = true, ["zones"] = new JsonArray(1, 2) } };

    public static string Id(int i) => $"dev-{i:D3}";

    public string Bundles => Path.Combine(directory, "bundles");

    private string Checkpoint => Path.Combine(Bundles, "migrate.checkpoint");

    private string[] Args(params string[] extra) => [IotmProcess.DllPath, "migrate", "--from", from, "--to", to, .. extra];

    public async Task SeedAsync(IIoTProvider source)
    {
        for (var i = 0; i < devices; i++)
            await source.Registry.RegisterAsync(new DeviceRegistration { Id = Id(i), Attributes = new Dictionary<string, string> { ["n"] = $"{i}" } });
        await source.State.UpdateDesiredAsync(Id(3), DesiredOfDevice3);
        await source.Registry.DisableAsync(Id(5));
        foreach (var release in Releases) await source.Firmware.CreateReleaseAsync(release);
    }

    /// <summary>The plan lists every device and release as to be created, and the target stays empty.</summary>
    public async Task PlanAsync(Func<Task<IIoTProvider>> openTarget)
    {
        var plan = (await IotmProcess.RunFileAsync("dotnet", Args("--dry-run", "-o", "json"), environment, bound: MigrationBound)).Json().AsArray();
        Assert.Equal(devices, plan.Count(p => (string?)p!["kind"] == "device" && ((string)p["action"]!).StartsWith("create", StringComparison.Ordinal)));
        Assert.Equal(Releases.Length, plan.Count(p => (string?)p!["kind"] == "release" && (string?)p["action"] == "create"));
        await using var target = await openTarget();
        await foreach (var device in target.Registry.ListAsync()) Assert.Fail($"the dry run created {device.Id}");
    }

    /// <summary>Starts a run, waits for <paramref name="killPoint"/>, SIGKILLs the tool and returns how many devices it checkpointed.</summary>
    public async Task<int> KillAsync(Func<Process, Task> killPoint)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in Args("--out", Bundles)) start.ArgumentList.Add(a);
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("IOTM_", StringComparison.Ordinal)).ToArray()) start.Environment.Remove(key);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        using var run = Process.Start(start)!;
        try
        {
            await killPoint(run);
            // (The message must not read stderr eagerly: that waits for the process to end.)
            if (run.HasExited) Assert.Fail($"the migration ended (exit {run.ExitCode}) before it could be killed: {await run.StandardError.ReadToEndAsync()}");
        }
        finally
        {
            if (!run.HasExited) run.Kill(entireProcessTree: true);
            await run.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        var before = CheckpointedCount();
        Assert.True(before < devices, $"killed with all {devices} devices checkpointed");
        return before;
    }

    /// <summary>Waits, bounded, until the killed run has made <paramref name="count"/> bundles (for targets no test hook can hold).</summary>
    public Func<Process, Task> AfterBundles(int count) => async run =>
    {
        var deadline = Stopwatch.StartNew();
        while (!run.HasExited && BundleCount() < count && deadline.Elapsed < IotmProcess.Bound) await Task.Delay(5);
    };

    /// <summary>Kills the run once a peer holds its request (<see cref="AzureHubPeer.HoldFirst"/>), then lets the peer drop the request.</summary>
    public async Task<int> KillWhenHeldAsync((Task Reached, Action Release) hold)
    {
        try
        {
            return await KillAsync(async run => await Task.WhenAny(hold.Reached, run.WaitForExitAsync()).WaitAsync(IotmProcess.Bound));
        }
        finally
        {
            hold.Release();
        }
    }

    private async Task<JsonNode> RunAsync() =>
        (await IotmProcess.RunFileAsync("dotnet", Args("--out", Bundles, "-o", "json"), environment, bound: MigrationBound)).Json();

    /// <summary>The resume after a kill with <paramref name="before"/> devices checkpointed; <paramref name="recovered"/> when the kill point fixes it.</summary>
    private async Task ResumeAsync(int before, int? recovered)
    {
        var resumed = await RunAsync();
        Assert.Equal(before, (int)resumed["devicesAlreadyDone"]!);
        Assert.Equal(devices, (int)resumed["devicesAlreadyDone"]! + (int)resumed["devicesCreated"]! + (int)resumed["devicesRecovered"]!);
        if (recovered is { } r) Assert.Equal(r, (int)resumed["devicesRecovered"]!);
    }

    /// <summary>After the kill: the resume, the check of the target, and a run that changes nothing.</summary>
    public async Task FinishAsync(int before, int? recovered, Func<Task<IIoTProvider>> openTarget)
    {
        await ResumeAsync(before, recovered);
        await using (var target = await openTarget()) await VerifyAsync(target);
        await RunAgainAsync();
    }

    /// <summary>Run again, nothing changes.</summary>
    private async Task RunAgainAsync()
    {
        var again = await RunAsync();
        Assert.Equal(devices, (int)again["devicesAlreadyDone"]!);
        Assert.Equal(0, (int)again["devicesCreated"]! + (int)again["devicesRecovered"]!);
        Assert.Equal(0, (int)again["releasesCreated"]!);
        Assert.Equal(Releases.Length, (int)again["releasesExisting"]!);
    }

    /// <summary>Checks the target in the test process, through the SDK rather than the tool.</summary>
    private async Task VerifyAsync(IIoTProvider target)
    {
        var listed = new List<string>();
        await foreach (var d in target.Registry.ListAsync()) listed.Add(d.Id);
        Assert.Equal(Enumerable.Range(0, devices).Select(Id), listed.Order(StringComparer.Ordinal));
        for (var i = 0; i < devices; i++)
        {
            var device = await target.Registry.GetAsync(Id(i));
            Assert.Equal(new Dictionary<string, string> { ["n"] = $"{i}" }, device.Attributes.ToDictionary());
            Assert.Equal(i != 5, device.Enabled);
            var active = Assert.Single(device.Credentials, c => !c.Revoked);
            AssertBundle(device.Id, active.Id);
        }
        Assert.True(JsonNode.DeepEquals(DesiredOfDevice3, (await target.State.GetAsync(Id(3))).Desired), $"{Id(3)} desired: {(await target.State.GetAsync(Id(3))).Desired.ToJsonString()}");
        Assert.Empty((await target.State.GetAsync(Id(4))).Desired);
        var releases = new List<FirmwareRelease>();
        await foreach (var r in target.Firmware.ListReleasesAsync()) releases.Add(r);
        Assert.Equal(Releases.Select(r => (r.Version, r.Sha256, r.SizeBytes)), releases.Select(r => (r.Version, r.Sha256, r.SizeBytes)).Order());
    }

    // The credential's bundle folder is found through its manifest (folder names are file-safe forms of the id); every file
    // in it is the owner's alone, and it holds the secret the device connects with.
    private void AssertBundle(string deviceId, string credentialId)
    {
        var folder = Directory.GetDirectories(Path.Combine(Bundles, deviceId)).SingleOrDefault(f =>
            (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(f, "device.json")))!["credential"]!["id"] == credentialId);
        Assert.True(folder is not null, $"{deviceId}: no bundle for its active credential {credentialId}");
        Assert.Equal(Modes.OwnerFolder, Modes.Of(folder));
        var files = Directory.GetFiles(folder);
        Assert.Contains(files, f => Path.GetFileName(f) is "private-key.pem" or "symmetric-key.txt");
        Assert.All(files, f => Assert.Equal(Modes.OwnerFile, Modes.Of(f)));
    }

    // Bundles are written just before a device's checkpoint line; counting folders avoids reading a file being appended to.
    private int BundleCount() => Directory.Exists(Bundles) ? Directory.GetDirectories(Bundles).Length : 0;

    private int CheckpointedCount()
    {
        try
        {
            return File.Exists(Checkpoint) ? File.ReadAllText(Checkpoint).Count(c => c == '\n') : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
