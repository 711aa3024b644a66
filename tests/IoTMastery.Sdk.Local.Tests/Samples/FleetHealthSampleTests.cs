using FleetHealthSample;
using Spectre.Console;

namespace IoTMastery.Sdk.Local.Tests.Samples;

/// <summary>
/// Runs samples/FleetHealth in-process, as its Program does, on a real embedded broker with real device connections:
/// the final summary must name the two silent devices, the disconnected one and the drifting one under their rules.
/// </summary>
public sealed class FleetHealthSampleTests
{
    [Fact]
    public async Task The_dashboard_reports_the_silent_the_offline_and_the_drifting_device_and_stops_by_itself()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, Interactive = InteractionSupport.No, ColorSystem = ColorSystemSupport.NoColors,
        });
        // The simulation stops after its 12 s; the bound only guards a hang (start-up on a loaded machine takes a few seconds).
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var report = await FleetHealthDemo.RunAsync(FleetHealthOptions.Parse(["--seconds", "12"]), console, bound.Token);

        Assert.True(report.Detected, output.ToString());
        Assert.Equal(["dev-03", "dev-07"], report.SilentDevices);
        // Silence is judged on the wall clock: a healthy device delayed by a loaded machine may be flagged too, so subset.
        Assert.Subset(new HashSet<string> { "dev-03", "dev-07" }, report.Firing("silence").ToHashSet());
        Assert.Contains("dev-05", report.Firing("offline"));
        // The readings are deterministic, so the anomaly rule flags the drifting device and no other.
        Assert.Equal(["dev-09"], report.Firing("anomaly"));
        var summary = report.Summary;
        Assert.Equal(12, summary.Devices);
        Assert.True(summary.Offline >= 1, $"{summary.Offline} offline");
        Assert.Equal([new("1.3.0", 3), new("1.4.2", 9)], summary.FirmwareVersions.ToArray());
        Assert.Contains(report.Alerts, a => a.Contains("anomaly dev-09", StringComparison.Ordinal));
        Assert.Contains("(final)", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_arguments_are_refused_with_the_range()
    {
        Assert.Equal((20, 12), (FleetHealthOptions.Parse(["--seconds", "20"]).Seconds, FleetHealthOptions.Parse([]).Devices));
        Assert.Contains("6 to 600", Assert.Throws<ArgumentException>(() => FleetHealthOptions.Parse(["--seconds", "2"])).Message);
        Assert.Contains("Unknown argument", Assert.Throws<ArgumentException>(() => FleetHealthOptions.Parse(["--fast"])).Message);
    }
}
