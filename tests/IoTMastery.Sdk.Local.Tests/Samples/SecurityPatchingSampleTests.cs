using SecurityPatchingSample;

namespace IoTMastery.Sdk.Local.Tests.Samples;

/// <summary>
/// Runs samples/SecurityPatching in-process, as <c>dotnet run</c> would: real devices on the embedded broker, the advisory
/// imported, the vulnerable devices restricted, the urgent rollout with one rollback, and the report that follows.
/// </summary>
public sealed class SecurityPatchingSampleTests
{
    [Fact]
    public async Task The_walkthrough_restricts_patches_and_reports_the_one_device_it_could_not_patch()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var output = new StringWriter();

        var outcome = await PatchingWalkthrough.RunAsync(output, bound.Token);

        var text = output.ToString();
        Assert.True(outcome.AsExpected, $"{outcome}\n{text}");
        Assert.Equal(Enumerable.Range(1, 8).Select(i => $"pump-{i}"), outcome.AffectedBefore);
        Assert.True(outcome.TelemetryRefusedWhileRestricted, text);
        Assert.Equal((7, 1), (outcome.Rollout.Count(DeviceRolloutStatus.Succeeded), outcome.Rollout.Count(DeviceRolloutStatus.RolledBack)));
        Assert.Equal([PatchingOutcome.FailingDevice], outcome.AffectedAfter);
        Assert.Equal([PatchingOutcome.FailingDevice], outcome.StillRestricted);
        // The report's table row: advisory, severity, fixed release, affected 1, patched 7, of them 7 within 24 h and 7 within 7 d.
        Assert.Matches(@"GHSA-demo-pump-0001\s+CRITICAL\s+1\.4\.3\s+1\s+7\s+7\s+7\n", text);
    }
}
