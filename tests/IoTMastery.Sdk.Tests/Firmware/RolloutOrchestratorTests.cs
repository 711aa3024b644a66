namespace IoTMastery.Sdk.Tests.Firmware;

public class RolloutOrchestratorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static RolloutPlan Plan(int devices, IReadOnlyList<int>? waves = null, double success = 0.9, double failure = 0.2) => new()
    {
        ReleaseVersion = "2.0.0",
        DeviceIds = Enumerable.Range(0, devices).Select(i => $"d{i:000}").ToArray(),
        WaveSizes = waves,
        SuccessThreshold = success,
        FailureThreshold = failure,
        DeviceTimeout = TimeSpan.FromMinutes(10),
    };

    private static Rollout Start(RolloutPlan plan, string? previous = "1.0.0") =>
        RolloutOrchestrator.Start("r1", plan, plan.DeviceIds.ToDictionary(d => d, _ => previous), T0).Rollout;

    private static ReportedFirmware Ok(string rollout = "r1") => new() { Version = "2.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Succeeded, RolloutId = rollout };

    private static ReportedFirmware Bad(string error = "boom") => new() { Version = "1.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Failed, RolloutId = "r1", Error = error };

    private static Dictionary<string, ReportedFirmware> Reports(params (string Device, ReportedFirmware Report)[] reports) =>
        reports.ToDictionary(r => r.Device, r => r.Report);

    [Theory]
    [InlineData(1, new[] { 1 })]
    [InlineData(9, new[] { 1, 8 })]
    [InlineData(10, new[] { 1, 9 })]
    [InlineData(25, new[] { 2, 23 })]
    [InlineData(100, new[] { 10, 90 })]
    public void Default_waves_are_a_ten_percent_canary_then_the_rest(int devices, int[] expected) =>
        Assert.Equal(expected, RolloutOrchestrator.SplitWaves(Plan(devices)).Select(w => w.Count));

    [Theory]
    [InlineData(10, new[] { 2, 3 }, new[] { 2, 8 })]
    [InlineData(10, new[] { 2, 3, 1 }, new[] { 2, 3, 5 })]
    [InlineData(4, new[] { 2, 5, 5 }, new[] { 2, 2 })]
    [InlineData(3, new[] { 5 }, new[] { 3 })]
    public void Explicit_waves_keep_plan_order_and_the_last_takes_the_rest(int devices, int[] sizes, int[] expected)
    {
        var waves = RolloutOrchestrator.SplitWaves(Plan(devices, sizes));
        Assert.Equal(expected, waves.Select(w => w.Count));
        Assert.Equal(Plan(devices).DeviceIds, waves.SelectMany(w => w));
    }

    [Fact]
    public void Start_offers_only_the_first_wave()
    {
        var decision = RolloutOrchestrator.Start("r1", Plan(10), new Dictionary<string, string?>(), T0);
        Assert.Equal(["d000"], decision.Actions.Select(a => a.DeviceId));
        Assert.All(decision.Actions, a => Assert.Equal((RolloutActionKind.Offer, "2.0.0"), (a.Kind, a.Version)));
        Assert.Equal(2, decision.Rollout.WaveCount);
        Assert.Equal(1, decision.Rollout.Count(DeviceRolloutStatus.InProgress));
        Assert.Equal(9, decision.Rollout.Count(DeviceRolloutStatus.Pending));
    }

    [Fact]
    public void A_successful_wave_advances_and_offers_the_next()
    {
        var rollout = Start(Plan(10, [2, 8]));
        var decision = RolloutOrchestrator.Evaluate(rollout, Reports(("d000", Ok())), T0.AddMinutes(1));
        Assert.False(decision.Rollout.CurrentWave > 0, "1 of 2 is below 0.9");

        decision = RolloutOrchestrator.Evaluate(decision.Rollout, Reports(("d000", Ok()), ("d001", Ok())), T0.AddMinutes(2));
        Assert.Equal(1, decision.Rollout.CurrentWave);
        Assert.Equal(RolloutStatus.InProgress, decision.Rollout.Status);
        Assert.Equal(8, decision.Actions.Count(a => a.Kind == RolloutActionKind.Offer));
        Assert.All(decision.Rollout.Devices.Where(d => d.Wave == 1), d => Assert.Equal((DeviceRolloutStatus.InProgress, T0.AddMinutes(2)), (d.Status, d.StartedAt)));
    }

    [Fact]
    public void Reaching_the_failure_threshold_stops_skips_later_waves_and_rolls_back()
    {
        var rollout = Start(Plan(10, [5, 5], failure: 0.4));
        var first = RolloutOrchestrator.Evaluate(rollout, Reports(("d000", Bad())), T0.AddMinutes(1));
        Assert.Equal(RolloutStatus.InProgress, first.Rollout.Status);                 // 1/5 < 0.4
        Assert.Equal([new RolloutAction(RolloutActionKind.RollBack, "d000", "1.0.0")], first.Actions);

        var second = RolloutOrchestrator.Evaluate(first.Rollout, Reports(("d000", Bad()), ("d001", Bad("disk full"))), T0.AddMinutes(2));
        Assert.Equal(RolloutStatus.Stopped, second.Rollout.Status);                   // 2/5 >= 0.4
        Assert.Contains("2 of 5", second.Rollout.Reason, StringComparison.Ordinal);
        Assert.Equal([new RolloutAction(RolloutActionKind.RollBack, "d001", "1.0.0")], second.Actions); // d000 is not rolled back twice
        Assert.Equal(5, second.Rollout.Count(DeviceRolloutStatus.Skipped));
        Assert.Equal(2, second.Rollout.Count(DeviceRolloutStatus.RolledBack));
        Assert.Equal("disk full", second.Rollout.Devices.Single(d => d.DeviceId == "d001").Error);
    }

    [Fact]
    public void Failed_devices_are_rolled_back_even_when_the_wave_advances()
    {
        var rollout = Start(Plan(20, [10, 10], success: 0.8, failure: 0.5));
        var reports = Reports(Enumerable.Range(0, 9).Select(i => ($"d{i:000}", Ok())).Append(("d009", Bad())).ToArray());
        var decision = RolloutOrchestrator.Evaluate(rollout, reports, T0.AddMinutes(1));
        Assert.Equal(1, decision.Rollout.CurrentWave);
        Assert.Contains(new RolloutAction(RolloutActionKind.RollBack, "d009", "1.0.0"), decision.Actions);
        Assert.Equal(10, decision.Actions.Count(a => a.Kind == RolloutActionKind.Offer));
    }

    [Fact]
    public void Devices_past_the_timeout_count_as_failed()
    {
        var rollout = Start(Plan(2, [1, 1]));
        Assert.False(RolloutOrchestrator.Evaluate(rollout, Reports(), T0.AddMinutes(10)).Changed); // at the timeout, not past it

        var decision = RolloutOrchestrator.Evaluate(rollout, Reports(), T0.AddMinutes(10).AddTicks(1));
        var d0 = decision.Rollout.Devices[0];
        Assert.Equal(DeviceRolloutStatus.RolledBack, d0.Status);
        Assert.Contains("within", d0.Error, StringComparison.Ordinal);
        Assert.Equal(RolloutStatus.Stopped, decision.Rollout.Status);
        Assert.Equal(DeviceRolloutStatus.Skipped, decision.Rollout.Devices[1].Status);
    }

    [Fact]
    public void Without_a_previous_version_a_failed_device_is_marked_not_rolled_back()
    {
        var rollout = Start(Plan(1), previous: null);
        var decision = RolloutOrchestrator.Evaluate(rollout, Reports(("d000", Bad())), T0.AddMinutes(1));
        Assert.Empty(decision.Actions);
        var device = decision.Rollout.Devices.Single();
        Assert.Equal(DeviceRolloutStatus.Failed, device.Status);
        Assert.Contains("previous firmware version is unknown", device.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_last_wave_completes_when_every_device_is_terminal()
    {
        var rollout = Start(Plan(4, [1, 3], failure: 0.5));
        var decision = RolloutOrchestrator.Evaluate(rollout, Reports(("d000", Ok())), T0.AddMinutes(1));
        Assert.Equal(1, decision.Rollout.CurrentWave);

        var reports = Reports(("d000", Ok()), ("d001", Ok()), ("d002", Ok()));
        decision = RolloutOrchestrator.Evaluate(decision.Rollout, reports, T0.AddMinutes(2));
        Assert.Equal(RolloutStatus.InProgress, decision.Rollout.Status);             // d003 still running

        reports["d003"] = Bad();
        decision = RolloutOrchestrator.Evaluate(decision.Rollout, reports, T0.AddMinutes(3));
        Assert.Equal(RolloutStatus.Completed, decision.Rollout.Status);              // 1/3 < 0.5
        Assert.Equal([new RolloutAction(RolloutActionKind.RollBack, "d003", "1.0.0")], decision.Actions);
        Assert.False(RolloutOrchestrator.Evaluate(decision.Rollout, reports, T0.AddHours(5)).Changed);
    }

    [Fact]
    public void Reports_from_another_rollout_or_for_another_version_are_ignored()
    {
        var rollout = Start(Plan(1));
        var stale = Reports(("d000", Ok(rollout: "r0")));
        Assert.False(RolloutOrchestrator.Evaluate(rollout, stale, T0.AddMinutes(1)).Changed);
        var oldFailure = Reports(("d000", Bad() with { TargetVersion = "1.5.0" }));
        Assert.False(RolloutOrchestrator.Evaluate(rollout, oldFailure, T0.AddMinutes(1)).Changed);
        var inProgress = Reports(("d000", Ok() with { Status = FirmwareUpdateStatus.Installing }));
        Assert.False(RolloutOrchestrator.Evaluate(rollout, inProgress, T0.AddMinutes(1)).Changed);
    }

    [Fact]
    public void A_wave_that_finishes_below_both_thresholds_stops_instead_of_hanging()
    {
        var rollout = Start(Plan(10, [4, 6], success: 0.9, failure: 0.5));
        var reports = Reports(("d000", Ok()), ("d001", Ok()), ("d002", Ok()), ("d003", Bad()));
        var decision = RolloutOrchestrator.Evaluate(rollout, reports, T0.AddMinutes(1));
        Assert.Equal(RolloutStatus.Stopped, decision.Rollout.Status);
        Assert.Contains("below the success threshold", decision.Rollout.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Cancel_skips_pending_devices_and_offered_devices_are_still_tracked()
    {
        var rollout = Start(Plan(10, [2, 8]));
        var cancelled = RolloutOrchestrator.Cancel(rollout, "operator", T0.AddMinutes(1)).Rollout;
        Assert.Equal(RolloutStatus.Cancelled, cancelled.Status);
        Assert.Equal(8, cancelled.Count(DeviceRolloutStatus.Skipped));

        var decision = RolloutOrchestrator.Evaluate(cancelled, Reports(("d000", Ok()), ("d001", Bad())), T0.AddMinutes(2));
        Assert.Equal(RolloutStatus.Cancelled, decision.Rollout.Status);
        Assert.Equal([new RolloutAction(RolloutActionKind.RollBack, "d001", "1.0.0")], decision.Actions);
        Assert.False(RolloutOrchestrator.Cancel(decision.Rollout, "again", T0.AddMinutes(3)).Changed);
    }
}
