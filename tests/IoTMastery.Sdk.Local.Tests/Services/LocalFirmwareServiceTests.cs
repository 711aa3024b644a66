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
        await Assert.ThrowsAsync<ResourceAlreadyExistsException>(() => f.Firmware.CreateReleaseAsync(Release("1.0.0")));
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => f.Firmware.GetReleaseAsync("9.9.9"));
        var versions = new List<string>();
        await foreach (var r in f.Firmware.ListReleasesAsync())
            versions.Add(r.Version);
        Assert.Equal(["1.1.0", "1.0.0"], versions);
    }

    [Fact]
    public async Task A_rollout_offers_wave_zero_then_advances_on_reported_success_and_completes()
    {
        using var f = await FleetAsync(10);
        var rollout = await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = [.. Enumerable.Range(0, 10).Select(i => $"d{i}")], WaveSizes = [2, 8] });

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
        var rollout = await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = [.. Enumerable.Range(0, 10).Select(i => $"d{i}")], WaveSizes = [5, 5], FailureThreshold = 0.4 });

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
        var rollout = await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0"] });

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
        var rollout = await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0", "d1"], WaveSizes = [1, 1], DeviceTimeout = TimeSpan.FromMinutes(5) });

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
        var rollout = await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = [.. Enumerable.Range(0, 10).Select(i => $"d{i}")] });
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
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "3.0.0", DeviceIds = ["d0"] }));
        var missing = await Assert.ThrowsAsync<DeviceNotFoundException>(() => f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0", "ghost"] }));
        Assert.Equal("ghost", missing.DeviceId);
        Assert.Null(await DesiredFirmwareOf(f, "d0"));
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => f.Firmware.GetRolloutAsync("ro-none"));
    }
}
