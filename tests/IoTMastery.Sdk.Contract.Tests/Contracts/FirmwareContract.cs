namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// Staged firmware rollouts behave the same on every provider: signed releases reach real devices running the core
/// <see cref="FirmwareUpdateAgent"/>, waves advance on <see cref="RolloutPlan.SuccessThreshold"/>, failed devices return to
/// their previous release, a threshold breach stops the rollout, deleted devices and unregistered previous releases fail
/// one device with an explanation, and a rollout survives the managing process being replaced.
/// </summary>
public abstract class FirmwareContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task Two_waves_advance_on_the_success_threshold_and_an_unhealthy_device_runs_its_previous_release_again()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        Assert.True(fleet.Provider.Capabilities.FirmwareRollouts);
        Assert.True(fleet.Provider.Capabilities.DurableRollouts);
        await fleet.ReleaseAsync("1.0.0");
        await fleet.ReleaseAsync("2.0.0");
        var d0 = await fleet.DeviceAsync("1.0.0");
        var d1 = await fleet.DeviceAsync("1.0.0", unhealthy: "2.0.0");
        var d2 = await fleet.DeviceAsync("1.0.0");
        var d3 = await fleet.DeviceAsync("1.0.0");

        var started = await fleet.Provider.Firmware.StartRolloutAsync(new RolloutPlan
        {
            ReleaseVersion = "2.0.0", DeviceIds = [d0.Id, d1.Id, d2.Id, d3.Id], WaveSizes = [2, 2], SuccessThreshold = 0.5, FailureThreshold = 0.6,
        }, Ct);
        Assert.Equal((0, 2), (started.Value.CurrentWave, started.Value.WaveCount));
        var done = await fleet.FinishAsync(started.Id);

        Assert.Equal(RolloutStatus.Completed, done.Status);
        Assert.Equal([DeviceRolloutStatus.Succeeded, DeviceRolloutStatus.RolledBack, DeviceRolloutStatus.Succeeded, DeviceRolloutStatus.Succeeded], done.Devices.Select(d => d.Status));
        Assert.Equal("1.0.0", done.Devices[1].PreviousVersion);
        Assert.Equal(["2.0.0"], d0.Installed);
        Assert.Equal(["2.0.0"], d3.Installed);
        // The failed health check left 1.0.0 running; the rollback asked for it and the device confirms it runs it.
        Assert.Equal("1.0.0", await fleet.DesiredVersionAsync(d1.Id));
        await fleet.EventuallyAsync(async () => await fleet.ReportedAsync(d1.Id) is { Version: "1.0.0", TargetVersion: "1.0.0", Status: FirmwareUpdateStatus.Succeeded },
            "the rolled-back device to confirm it runs 1.0.0");
        Assert.Equal("1.0.0", d1.RunningVersion);
    }

    [Fact]
    public async Task A_threshold_breach_stops_the_rollout_skips_later_waves_and_rolls_the_failed_wave_back()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        await fleet.ReleaseAsync("1.0.0");
        await fleet.ReleaseAsync("2.0.0");
        var d0 = await fleet.DeviceAsync("1.0.0", unhealthy: "2.0.0");
        var d1 = await fleet.DeviceAsync("1.0.0", unhealthy: "2.0.0");
        var d2 = await fleet.DeviceAsync("1.0.0");
        var d3 = await fleet.DeviceAsync("1.0.0");

        var started = await fleet.Provider.Firmware.StartRolloutAsync(new RolloutPlan
        {
            ReleaseVersion = "2.0.0", DeviceIds = [d0.Id, d1.Id, d2.Id, d3.Id], WaveSizes = [2, 2], FailureThreshold = 0.5,
        }, Ct);
        var done = await fleet.FinishAsync(started.Id);

        Assert.Equal(RolloutStatus.Stopped, done.Status);
        Assert.Contains("failure threshold", done.Reason, StringComparison.Ordinal);
        Assert.Equal([DeviceRolloutStatus.RolledBack, DeviceRolloutStatus.RolledBack, DeviceRolloutStatus.Skipped, DeviceRolloutStatus.Skipped], done.Devices.Select(d => d.Status));
        foreach (var skipped in new[] { d2, d3 })
        {
            Assert.Null(await fleet.DesiredVersionAsync(skipped.Id));
            Assert.Empty(skipped.Installed);
        }
        foreach (var failed in new[] { d0, d1 })
        {
            Assert.Equal("1.0.0", await fleet.DesiredVersionAsync(failed.Id));
            Assert.Equal("1.0.0", failed.RunningVersion);
        }
    }

    [Fact]
    public async Task A_device_deleted_mid_rollout_counts_as_one_failed_device()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        await fleet.ReleaseAsync("1.0.0");
        await fleet.ReleaseAsync("2.0.0");
        var kept = await fleet.DeviceAsync("1.0.0");
        var deleted = await fleet.DeviceAsync("1.0.0");
        var slow = await fleet.DeviceAsync("1.0.0");

        var started = await fleet.Provider.Firmware.StartRolloutAsync(new RolloutPlan
        {
            ReleaseVersion = "2.0.0", DeviceIds = [kept.Id, deleted.Id, slow.Id], WaveSizes = [3], SuccessThreshold = 0.6, FailureThreshold = 0.5,
        }, Ct);
        await fleet.Provider.Registry.DeleteAsync(deleted.Id, Ct);
        var done = await fleet.FinishAsync(started.Id);

        // One failure of three stays under the failure threshold: the rollout completes, with the device failed and explained.
        Assert.Equal(RolloutStatus.Completed, done.Status);
        var gone = done.Devices.Single(d => d.DeviceId == deleted.Id);
        Assert.Equal(DeviceRolloutStatus.Failed, gone.Status);
        Assert.Contains("no longer exists", gone.Error, StringComparison.Ordinal);
        Assert.Equal(2, done.Count(DeviceRolloutStatus.Succeeded));
    }

    [Fact]
    public async Task A_rollback_to_an_unregistered_release_leaves_the_device_failed_with_the_reason()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        await fleet.ReleaseAsync("2.0.0");
        var device = await fleet.DeviceAsync("0.9.0", unhealthy: "2.0.0");

        var started = await fleet.Provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = [device.Id], FailureThreshold = 1.0 }, Ct);
        var done = await fleet.FinishAsync(started.Id);

        var failed = Assert.Single(done.Devices);
        Assert.Equal(DeviceRolloutStatus.Failed, failed.Status);
        Assert.Contains("0.9.0 is not a registered release", failed.Error, StringComparison.Ordinal);
        Assert.Equal("2.0.0", await fleet.DesiredVersionAsync(device.Id));
    }

    [Fact]
    public async Task The_agent_refuses_an_unsigned_and_a_tampered_release_and_the_rollout_rolls_it_back()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        await fleet.ReleaseAsync("1.0.0");
        await fleet.ReleaseAsync("3.0.0", sign: false);
        await fleet.ReleaseAsync("2.1.0", tamper: true);
        var device = await fleet.DeviceAsync("1.0.0");

        foreach (var (version, why) in new[] { ("3.0.0", "not signed"), ("2.1.0", "does not match its manifest") })
        {
            var started = await fleet.Provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = version, DeviceIds = [device.Id], FailureThreshold = 1.0 }, Ct);
            var refused = Assert.Single((await fleet.FinishAsync(started.Id)).Devices);
            Assert.Equal(DeviceRolloutStatus.RolledBack, refused.Status);
            Assert.Contains(why, refused.Error, StringComparison.Ordinal);
        }
        Assert.Empty(device.Installed);
        Assert.Equal("1.0.0", device.RunningVersion);
    }

    [Fact]
    public async Task A_new_managing_instance_on_the_same_store_resumes_a_rollout_and_completes_it()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        await fleet.ReleaseAsync("1.0.0");
        await fleet.ReleaseAsync("2.0.0");
        var first = await fleet.DeviceAsync("1.0.0");
        var second = await fleet.DeviceAsync("1.0.0");
        var started = await fleet.Provider.Firmware.StartRolloutAsync(new RolloutPlan
        {
            ReleaseVersion = "2.0.0", DeviceIds = [first.Id, second.Id], WaveSizes = [1, 1], SuccessThreshold = 1.0,
        }, Ct);
        await fleet.EventuallyAsync(() => Task.FromResult(first.RunningVersion == "2.0.0"), "wave 0 to install 2.0.0");

        // Mid-rollout: the managing process goes away and another one, on the same store, takes over.
        await fleet.RestartAsync();
        var done = await fleet.FinishAsync(started.Id);

        Assert.Equal(RolloutStatus.Completed, done.Status);
        Assert.Equal(2, done.Count(DeviceRolloutStatus.Succeeded));
        await fleet.EventuallyAsync(() => Task.FromResult(second.RunningVersion == "2.0.0"), "wave 1 to install 2.0.0");
        Assert.Equal(["2.0.0", "1.0.0"], (await fleet.Provider.Firmware.ListReleasesAsync(Ct).ToListAsync(Ct)).Select(r => r.Version).Order().Reverse());

        // Releases and rollouts are listed in the one pageable shape, by the process that took over: newest first, a page
        // at a time, and a token resumes in a new listing.
        var firstPage = await fleet.Provider.Firmware.ListReleasesAsync(Ct).AsPages(pageSizeHint: 1).FirstAsync(Ct);
        Assert.Equal(["2.0.0"], firstPage.Items.Select(r => r.Version));
        var rest = await fleet.Provider.Firmware.ListReleasesAsync(Ct).AsPages(firstPage.ContinuationToken, 1).ToListAsync(Ct);
        Assert.Equal(["1.0.0"], rest.SelectMany(p => p.Items).Select(r => r.Version));
        Assert.Null(rest[^1].ContinuationToken);
        Assert.Equal([started.Id], await fleet.Provider.Firmware.ListRolloutsAsync(cancellationToken: Ct).Select(r => r.Id).ToListAsync(Ct));
        Assert.Equal([started.Id], await fleet.Provider.Firmware.ListRolloutsAsync(RolloutStatus.Completed, Ct).Select(r => r.Id).ToListAsync(Ct));
        Assert.Empty(await fleet.Provider.Firmware.ListRolloutsAsync(RolloutStatus.InProgress, Ct).ToListAsync(Ct));
        // A release token does not resume a rollout listing.
        Assert.ThrowsAny<ArgumentException>(() => fleet.Provider.Firmware.ListRolloutsAsync(cancellationToken: Ct).AsPages(firstPage.ContinuationToken));
    }

    [Fact]
    public async Task The_rollout_handle_waits_for_the_end_and_reports_each_new_state_in_order()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        await fleet.ReleaseAsync("1.0.0");
        await fleet.ReleaseAsync("2.0.0");
        var first = await fleet.DeviceAsync("1.0.0");
        var second = await fleet.DeviceAsync("1.0.0");

        var operation = await fleet.Provider.Firmware.StartRolloutAsync(new RolloutPlan
        {
            ReleaseVersion = "2.0.0", DeviceIds = [first.Id, second.Id], WaveSizes = [1, 1], SuccessThreshold = 1.0,
        }, Ct);
        Assert.Equal(RolloutStatus.InProgress, operation.Value.Status);
        Assert.False(operation.HasCompleted);

        var seen = new List<Rollout>();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(ProviderFixture.Patience);
        // A short fallback interval: on providers that cannot signal, each read is what advances the rollout.
        var done = await operation.WaitForCompletionAsync(TimeSpan.FromMilliseconds(200), new Collect(seen), bound.Token);

        Assert.Equal(RolloutStatus.Completed, done.Status);
        Assert.Equal(2, done.Count(DeviceRolloutStatus.Succeeded));
        Assert.True(operation.HasCompleted);
        Assert.Same(done, operation.Value);
        Assert.Same(done, seen[^1]);
        Assert.All(seen.SkipLast(1), r => Assert.Equal(RolloutStatus.InProgress, r.Status));
        // Each report is a new state and waves only move forward.
        Assert.Equal(seen.Select(r => r.CurrentWave).Order(), seen.Select(r => r.CurrentWave));
        Assert.Equal(seen.Count, seen.Select(r => (r.Status, r.CurrentWave, string.Join(",", r.Devices.Select(d => d.Status)))).Distinct().Count());
        Assert.Equal("2.0.0", first.RunningVersion);

        // Another handle on the same rollout, by id (a later process): ended, so its wait returns on the first read.
        var resumed = await RolloutOperation.ResumeAsync(fleet.Provider.Firmware, operation.Id, Ct);
        Assert.True(resumed.HasCompleted);
        Assert.Equal(RolloutStatus.Completed, (await resumed.WaitForCompletionAsync(null, bound.Token)).Status);
    }

    /// <summary>Collects in order, on the reporting thread (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class Collect(List<Rollout> seen) : IProgress<Rollout>
    {
        public void Report(Rollout value) => seen.Add(value);
    }
}
