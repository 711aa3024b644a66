namespace IoTMastery.Sdk.Tests.Firmware.Patching;

public class FirmwareVersionTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    // The precedence chain from SemVer 2.0.0 §11, in ascending order.
    [Fact]
    public void Precedence_follows_the_semver_spec_examples()
    {
        string[] ascending =
        [
            "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
            "2.0.0", "2.1.0", "2.1.1",
        ];
        for (var i = 0; i < ascending.Length - 1; i++)
        {
            Assert.True(FirmwareVersion.Parse(ascending[i]) < FirmwareVersion.Parse(ascending[i + 1]), $"{ascending[i]} < {ascending[i + 1]}");
            Assert.True(FirmwareVersion.Parse(ascending[i + 1]) > FirmwareVersion.Parse(ascending[i]));
        }
        var shuffled = ascending.Reverse().Select(v => FirmwareVersion.Parse(v)).Order().Select(v => v.ToString());
        Assert.Equal(ascending, shuffled);
    }

    [Theory]
    [InlineData("1.0.0+20130313144700", "1.0.0")]
    [InlineData("1.0.0-beta+exp.sha.5114f85", "1.0.0-beta+other")]
    public void Build_metadata_is_ignored_for_order(string a, string b)
    {
        Assert.Equal(0, FirmwareVersion.Parse(a).CompareTo(FirmwareVersion.Parse(b)));
        Assert.Equal(FirmwareVersion.Parse(a), FirmwareVersion.Parse(b));
        Assert.Equal(a, FirmwareVersion.Parse(a).ToString());
    }

    [Fact]
    public void Numeric_parts_compare_numerically_not_as_text()
    {
        Assert.True(FirmwareVersion.Parse("1.10.0") > FirmwareVersion.Parse("1.9.0"));
        Assert.True(FirmwareVersion.Parse("1.0.0-2") < FirmwareVersion.Parse("1.0.0-10"));
        Assert.True(FirmwareVersion.Parse("1.0.0-10") < FirmwareVersion.Parse("1.0.0-a"), "numeric identifiers sort before alphanumeric ones");
    }

    [Theory]
    [InlineData("1.0")]
    [InlineData("v1.0.0")]
    [InlineData("01.0.0")]
    [InlineData("1.0.0-01")]
    [InlineData("1.0.0-")]
    [InlineData("1.0.0-a..b")]
    [InlineData("1.0.0+")]
    [InlineData("1.2.3.4")]
    [InlineData("99999999999999999999.0.0")]
    [InlineData("build_7")]
    public void Non_semver_is_refused_with_the_rule(string text)
    {
        Assert.False(FirmwareVersion.TryParse(text, out _));
        var ex = Assert.Throws<ArgumentException>(() => FirmwareVersion.Parse(text));
        Assert.Contains("semantic version", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_release_may_keep_a_non_semver_version_and_carries_a_validated_channel()
    {
        var release = new FirmwareRelease { Version = "build_7", Uri = new Uri("https://example.com/fw.bin"), Sha256 = new string('a', 64), SizeBytes = 1 };
        release.Validate();
        Assert.Equal(FirmwareRelease.StableChannel, release.Channel);
        Assert.False(release.TryGetSemanticVersion(out _));
        (release with { Channel = "beta-2" }).Validate();
        var ex = Assert.Throws<ArgumentException>(() => (release with { Channel = "Beta!" }).Validate());
        Assert.Contains("Channel", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => (release with { Channel = new string('a', 33) }).Validate());
    }

    private static RolloutPlan Plan(string release, params string[] devices) => new() { ReleaseVersion = release, DeviceIds = devices, WaveSizes = [devices.Length] };

    [Fact]
    public void A_rollout_skips_devices_it_would_downgrade_unless_allowed()
    {
        var previous = new Dictionary<string, string?> { ["old"] = "1.0.0", ["newer"] = "2.1.0", ["same"] = "2.0.0", ["unknown"] = null };
        var plan = Plan("2.0.0", "old", "newer", "same", "unknown");
        var rollout = RolloutOrchestrator.Start("r1", plan, previous, T0);

        var newer = rollout.Rollout.Devices.Single(d => d.DeviceId == "newer");
        Assert.Equal(DeviceRolloutStatus.Skipped, newer.Status);
        Assert.Contains("downgrade", newer.Error, StringComparison.Ordinal);
        Assert.Equal(["old", "same", "unknown"], rollout.Actions.Select(a => a.DeviceId));
        Assert.DoesNotContain(rollout.Actions, a => a.DeviceId == "newer");

        var allowed = RolloutOrchestrator.Start("r2", plan with { AllowDowngrade = true }, previous, T0);
        Assert.Equal(4, allowed.Actions.Count);
    }

    [Fact]
    public void A_rollout_with_a_minimum_running_version_skips_devices_below_it_with_the_reason()
    {
        var previous = new Dictionary<string, string?> { ["a"] = "1.4.2", ["b"] = "1.2.0", ["c"] = "1.3.0-rc.1", ["d"] = "build_7", ["e"] = null };
        var plan = Plan("1.5.0", "a", "b", "c", "d", "e") with { MinimumRunningVersion = "1.3.0" };
        var rollout = RolloutOrchestrator.Start("r1", plan, previous, T0).Rollout;

        Assert.Equal(DeviceRolloutStatus.InProgress, rollout.Devices.Single(d => d.DeviceId == "a").Status);
        foreach (var id in new[] { "b", "c", "d", "e" })
        {
            var skipped = rollout.Devices.Single(d => d.DeviceId == id);
            Assert.Equal(DeviceRolloutStatus.Skipped, skipped.Status);
            Assert.Contains("1.3.0", skipped.Error, StringComparison.Ordinal);
        }
        // Skipped devices are in no wave, so they count towards neither threshold: the one eligible device decides.
        var done = RolloutOrchestrator.Evaluate(rollout, new Dictionary<string, ReportedFirmware>
        {
            ["a"] = new() { Version = "1.5.0", TargetVersion = "1.5.0", Status = FirmwareUpdateStatus.Succeeded, RolloutId = "r1" },
        }, T0.AddMinutes(1));
        Assert.Equal(RolloutStatus.Completed, done.Rollout.Status);
    }

    [Fact]
    public void Every_device_refused_gives_a_completed_rollout_that_offers_nothing()
    {
        var decision = RolloutOrchestrator.Start("r1", Plan("1.0.0", "x") , new Dictionary<string, string?> { ["x"] = "2.0.0" }, T0);
        Assert.Empty(decision.Actions);
        Assert.Equal(RolloutStatus.InProgress, decision.Rollout.Status);
        Assert.Equal(RolloutStatus.Completed, RolloutOrchestrator.Evaluate(decision.Rollout, new Dictionary<string, ReportedFirmware>(), T0).Rollout.Status);
    }

    [Theory]
    [InlineData("build_7", null, "ReleaseVersion")]
    [InlineData("2.0.0", "one", "MinimumRunningVersion")]
    public void Ordering_features_refuse_non_semver_versions_up_front(string release, string? minimum, string rule)
    {
        var plan = Plan(release, "a") with { MinimumRunningVersion = minimum ?? "1.0.0" };
        var ex = Assert.Throws<ArgumentException>(plan.Validate);
        Assert.Contains(rule, ex.Message, StringComparison.Ordinal);
        Assert.Contains("semantic version", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_non_semver_release_without_a_minimum_still_rolls_out_with_no_downgrade_check()
    {
        var decision = RolloutOrchestrator.Start("r1", Plan("build_7", "a"), new Dictionary<string, string?> { ["a"] = "9.0.0" }, T0);
        Assert.Single(decision.Actions);
    }
}

public class UrgentRolloutPlanTests
{
    [Fact]
    public void The_urgent_preset_has_larger_waves_and_a_shorter_timeout_but_keeps_health_checks_and_rollback()
    {
        var ids = Enumerable.Range(0, 40).Select(i => $"d{i:00}").ToArray();
        var urgent = RolloutPlan.Urgent("1.4.3", ids);
        var normal = new RolloutPlan { ReleaseVersion = "1.4.3", DeviceIds = ids };
        urgent.Validate();
        Assert.True(RolloutOrchestrator.SplitWaves(urgent)[0].Count > RolloutOrchestrator.SplitWaves(normal)[0].Count, "a larger canary");
        Assert.True(urgent.DeviceTimeout < normal.DeviceTimeout);
        Assert.False(urgent.AllowDowngrade);
        Assert.True(urgent.FailureThreshold < 1, "still stops on failures");
        Assert.Equal([10, 30], RolloutOrchestrator.SplitWaves(urgent).Select(w => w.Count));
        Assert.Equal([1], RolloutOrchestrator.SplitWaves(RolloutPlan.Urgent("1.4.3", ["only"])).Select(w => w.Count));
    }
}
