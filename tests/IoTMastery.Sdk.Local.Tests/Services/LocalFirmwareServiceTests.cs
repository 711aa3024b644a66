using IoTMastery.Sdk.TestSupport;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Local.Tests.Services;

public sealed class LocalFirmwareServiceTests
{
    private static FirmwareRelease Release(string version) => new()
    {
        Version = version,
        Uri = new Uri($"https://fw.example.test/{version}.bin"),
        Sha256 = new string('a', 64),
        SizeBytes = 1000,
    };

    private static async Task<LocalFixture> FleetAsync(int devices, string runningVersion = "1.0.0")
    {
        var f = await LocalFixture.CreateAsync();
        await f.Firmware.CreateReleaseAsync(Release("1.0.0"));
        await f.Firmware.CreateReleaseAsync(Release("2.0.0"));
        for (var i = 0; i < devices; i++)
        {
            await f.Registry.RegisterAsync(new DeviceRegistration { Id = $"d{i}" });
            await Report(f, $"d{i}", new ReportedFirmware { Version = runningVersion });
        }
        return f;
    }

    private static Task Report(LocalFixture f, string deviceId, ReportedFirmware report) =>
        f.State.ApplyReportedAsync(deviceId, new JsonObject { ["firmware"] = FirmwareStateContract.BuildReported(report) }, default);

    private static Task Succeed(LocalFixture f, string deviceId, string rolloutId) =>
        Report(f, deviceId, new ReportedFirmware { Version = "2.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Succeeded, RolloutId = rolloutId });

    private static Task Fail(LocalFixture f, string deviceId, string rolloutId) =>
        Report(f, deviceId, new ReportedFirmware { Version = "1.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Failed, RolloutId = rolloutId, Error = "health check" });

    private static async Task<DesiredFirmware?> DesiredFirmwareOf(LocalFixture f, string deviceId)
    {
        var desired = (await f.State.GetAsync(deviceId)).Desired;
        return desired["firmware"] is { } node ? FirmwareStateContract.ParseDesired(node) : null;
    }

    [Fact]
    public async Task Releases_are_stored_listed_newest_first_and_unique()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Firmware.CreateReleaseAsync(Release("1.0.0"));
        f.Time.Advance(TimeSpan.FromMinutes(1));
        var created = await f.Firmware.CreateReleaseAsync(Release("1.1.0"));
        Assert.Equal(LocalFixture.Start.AddMinutes(1), created.CreatedAt);
        Assert.Equal(created, await f.Firmware.GetReleaseAsync("1.1.0"));
        // A replay of the identical release (a retried call whose answer was lost) is success; another image is not.
        Assert.Equal(await f.Firmware.GetReleaseAsync("1.0.0"), await f.Firmware.CreateReleaseAsync(Release("1.0.0")));
        await IoTAssert.ThrowsAsync(IoTErrorKind.AlreadyExists, () => f.Firmware.CreateReleaseAsync(Release("1.0.0") with { SizeBytes = 2000 }));
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => f.Firmware.GetReleaseAsync("9.9.9"));
        var versions = new List<string>();
        await foreach (var r in f.Firmware.ListReleasesAsync())
            versions.Add(r.Version);
        Assert.Equal(["1.1.0", "1.0.0"], versions);
    }

    [Fact]
    public async Task WaitForCompletionAsync_wakes_on_device_reports_while_the_clock_stands_still()
    {
        using var f = await FleetAsync(2);
        var operation = await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0", "d1"], WaveSizes = [1, 1], SuccessThreshold = 1.0 });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // The fake clock never moves in this test, so the poll fallback never fires: only the engine's signal can wake the wait.
        var wait = operation.WaitForCompletionAsync(null, cts.Token);

        await Succeed(f, "d0", operation.Id);
        // d0's report advanced the rollout at once (Local evaluates on reports), so wave 1 is offered before d1 reports.
        Assert.Equal("2.0.0", (await DesiredFirmwareOf(f, "d1"))!.Release.Version);
        await Succeed(f, "d1", operation.Id);
        var done = await wait.WaitAsync(cts.Token);

        Assert.Equal(RolloutStatus.Completed, done.Status);
        Assert.Equal(2, done.Count(DeviceRolloutStatus.Succeeded));
        Assert.Equal(LocalFixture.Start, f.Time.GetUtcNow());
    }

    [Fact]
    public async Task A_rollout_offers_wave_zero_then_advances_on_reported_success_and_completes()
    {
        using var f = await FleetAsync(10);
        var rollout = (await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = [.. Enumerable.Range(0, 10).Select(i => $"d{i}")], WaveSizes = [2, 8] })).Value;

        Assert.Equal("1.0.0", rollout.Devices[0].PreviousVersion);
        var offered = await DesiredFirmwareOf(f, "d0");
        Assert.Equal(("2.0.0", rollout.Id), (offered!.Release.Version, offered.RolloutId));
        Assert.NotNull(f.Bus.LastDesired("d1")!["desired"]!["firmware"]);
        Assert.Null(await DesiredFirmwareOf(f, "d2"));

        await Succeed(f, "d0", rollout.Id);
        await Succeed(f, "d1", rollout.Id);        // reacting to the report advances the rollout
        Assert.Equal("2.0.0", (await DesiredFirmwareOf(f, "d9"))!.Release.Version);

        for (var i = 2; i < 10; i++)
            await Succeed(f, $"d{i}", rollout.Id);
        var done = await f.Firmware.GetRolloutAsync(rollout.Id);
        Assert.Equal(RolloutStatus.Completed, done.Status);
        Assert.Equal(10, done.Count(DeviceRolloutStatus.Succeeded));
    }

    [Fact]
    public async Task Failures_stop_the_rollout_and_roll_back_to_the_previous_release()
    {
        using var f = await FleetAsync(10);
        var rollout = (await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = [.. Enumerable.Range(0, 10).Select(i => $"d{i}")], WaveSizes = [5, 5], FailureThreshold = 0.4 })).Value;

        await Fail(f, "d0", rollout.Id);
        Assert.Equal("1.0.0", (await DesiredFirmwareOf(f, "d0"))!.Release.Version);   // rolled back at once
        await Fail(f, "d1", rollout.Id);

        var stopped = await f.Firmware.GetRolloutAsync(rollout.Id);
        Assert.Equal(RolloutStatus.Stopped, stopped.Status);
        Assert.Equal(2, stopped.Count(DeviceRolloutStatus.RolledBack));
        Assert.Equal(5, stopped.Count(DeviceRolloutStatus.Skipped));
        Assert.Equal("health check", stopped.Devices[0].Error);
        Assert.Null(await DesiredFirmwareOf(f, "d7"));
    }

    [Fact]
    public async Task A_previous_version_that_is_not_a_registered_release_is_marked_instead_of_rolled_back()
    {
        using var f = await FleetAsync(1, runningVersion: "0.9.0");
        var rollout = (await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0"] })).Value;

        await Fail(f, "d0", rollout.Id);

        var result = await f.Firmware.GetRolloutAsync(rollout.Id);
        var device = result.Devices.Single();
        Assert.Equal(DeviceRolloutStatus.Failed, device.Status);
        Assert.Contains("0.9.0 is not a registered release", device.Error, StringComparison.Ordinal);
        Assert.Equal("2.0.0", (await DesiredFirmwareOf(f, "d0"))!.Release.Version);
    }

    [Fact]
    public async Task Silent_devices_time_out_when_the_rollout_is_read()
    {
        using var f = await FleetAsync(2);
        var rollout = (await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0", "d1"], WaveSizes = [1, 1], DeviceTimeout = TimeSpan.FromMinutes(5) })).Value;

        f.Time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(RolloutStatus.InProgress, (await f.Firmware.GetRolloutAsync(rollout.Id)).Status);
        f.Time.Advance(TimeSpan.FromSeconds(1));
        var result = await f.Firmware.GetRolloutAsync(rollout.Id);

        Assert.Equal(RolloutStatus.Stopped, result.Status);
        Assert.Equal(DeviceRolloutStatus.RolledBack, result.Devices[0].Status);
        Assert.Equal("1.0.0", (await DesiredFirmwareOf(f, "d0"))!.Release.Version);
    }

    [Fact]
    public async Task Cancel_skips_devices_not_yet_offered()
    {
        using var f = await FleetAsync(10);
        var rollout = (await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = [.. Enumerable.Range(0, 10).Select(i => $"d{i}")] })).Value;
        var cancelled = await f.Firmware.CancelRolloutAsync(rollout.Id);
        Assert.Equal(RolloutStatus.Cancelled, cancelled.Status);
        Assert.Equal(9, cancelled.Count(DeviceRolloutStatus.Skipped));
        var read = await f.Firmware.GetRolloutAsync(rollout.Id);
        Assert.Equal((cancelled.Status, cancelled.Reason), (read.Status, read.Reason));
        Assert.Equal(cancelled.Devices, read.Devices);
    }

    [Fact]
    public async Task Starting_needs_a_known_release_and_existing_devices()
    {
        using var f = await FleetAsync(1);
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "3.0.0", DeviceIds = ["d0"] }));
        var missing = await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0", "ghost"] }));
        Assert.Equal("ghost", missing.DeviceId);
        Assert.Null(await DesiredFirmwareOf(f, "d0"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => f.Firmware.GetRolloutAsync("ro-none"));
    }

    [Fact]
    public async Task A_device_deleted_mid_rollout_is_one_failed_device_at_once_and_the_thresholds_decide()
    {
        using var f = await FleetAsync(4);
        var rollout = (await f.Firmware.StartRolloutAsync(new RolloutPlan
        {
            ReleaseVersion = "2.0.0", DeviceIds = ["d0", "d1", "d2", "d3"], WaveSizes = [2, 2], SuccessThreshold = 0.5, FailureThreshold = 0.6,
        })).Value;
        await f.Registry.DeleteAsync("d1");   // offered, then deleted
        await f.Registry.DeleteAsync("d3");   // deleted before its wave is offered

        await Succeed(f, "d0", rollout.Id);
        var read = await f.Firmware.GetRolloutAsync(rollout.Id);

        // No clock advance: the deleted devices fail at once instead of waiting out the device timeout.
        Assert.Equal(RolloutStatus.InProgress, read.Status);
        Assert.Equal(1, read.CurrentWave);
        foreach (var gone in new[] { read.Devices[1], read.Devices[3] })
        {
            Assert.Equal(DeviceRolloutStatus.Failed, gone.Status);
            Assert.Contains("no longer exists", gone.Error, StringComparison.Ordinal);
        }
        await Succeed(f, "d2", rollout.Id);
        var done = await f.Firmware.GetRolloutAsync(rollout.Id);
        Assert.Equal(RolloutStatus.Completed, done.Status);
        Assert.Equal(2, done.Count(DeviceRolloutStatus.Succeeded));
        Assert.Equal(2, done.Count(DeviceRolloutStatus.Failed));
    }

    [Fact]
    public async Task A_database_written_before_the_firmware_store_keeps_its_releases_and_running_rollouts()
    {
        using var db = new TempDatabase();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(LocalFixture.Start);
        string rolloutId = "ro-legacy";
        using (var store = LocalStore.OpenFile(db.Path))
        {
            // Today's Local schema (LocalStore's migrations) with rows exactly as LocalFirmwareService wrote them.
            using var ca = await store.LoadOrCreateCertificateAuthorityAsync(time);
            var bus = new RecordingMessageBus();
            await new LocalDeviceRegistry(store, ca, bus, time).RegisterAsync(new DeviceRegistration { Id = "old-1" });
            var state = new LocalStateService(store, bus);
            await state.ApplyReportedAsync("old-1", new JsonObject { ["firmware"] = FirmwareStateContract.BuildReported(new ReportedFirmware { Version = "1.0.0" }) }, default);
            var at = LocalFixture.Start.UtcTicks;
            await store.WriteAsync(async (c, tx, ct) =>
            {
                foreach (var v in new[] { "1.0.0", "2.0.0" })
                    await LocalStore.ExecuteAsync(c, tx, "INSERT INTO firmware_releases (version, uri, sha256, size, created_at, signature) VALUES ($v, $u, $s, 1000, $at, NULL)", ct,
                        ("$v", v), ("$u", $"https://fw.example.test/{v}.bin"), ("$s", new string('a', 64)), ("$at", at));
                await LocalStore.ExecuteAsync(c, tx, "INSERT INTO rollouts (id, plan, status, current_wave, wave_count, created_at, updated_at, reason) VALUES ($id, $plan, 'InProgress', 0, 1, $at, $at, NULL)", ct,
                    ("$id", rolloutId), ("$at", at),
                    ("$plan", """{"releaseVersion":"2.0.0","deviceIds":["old-1"],"waveSizes":null,"successThreshold":0.9,"failureThreshold":0.2,"deviceTimeoutTicks":6000000000}"""));
                return await LocalStore.ExecuteAsync(c, tx, "INSERT INTO rollout_devices (rollout_id, position, device_id, wave, status, previous_version, started_at, updated_at, error) VALUES ($id, 0, 'old-1', 0, 'InProgress', '1.0.0', $at, $at, NULL)", ct,
                    ("$id", rolloutId), ("$at", at));
            }, default);
        }

        using var f = await LocalFixture.CreateAsync(LocalStore.OpenFile(db.Path), time);
        var versions = new List<string>();
        await foreach (var r in f.Firmware.ListReleasesAsync())
            versions.Add(r.Version);
        Assert.Equal(["2.0.0", "1.0.0"], versions.Order().Reverse());
        var before = await f.Firmware.GetRolloutAsync(rolloutId);
        Assert.Equal((RolloutStatus.InProgress, "1.0.0"), (before.Status, before.Devices.Single().PreviousVersion));

        await Report(f, "old-1", new ReportedFirmware { Version = "2.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Succeeded, RolloutId = rolloutId });
        Assert.Equal(RolloutStatus.Completed, (await f.Firmware.GetRolloutAsync(rolloutId)).Status);
    }
}
