using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Alerts;

public sealed class AnomalyRuleTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static TelemetryRecord At(double seconds, double value, string device = "d1") => new(device, "temp", value, Start.AddSeconds(seconds));

    [Fact]
    public void Rate_of_change_raises_above_the_limit_once_and_clears_below_the_lower_one()
    {
        var monitor = new AlertMonitor([AlertRule.RateOfChange("temp", raiseAbovePerSecond: 1.0, clearBelowPerSecond: 0.5)]);
        Assert.Null(monitor.One(At(0, 10)));   // first reading: no rate yet
        Assert.Null(monitor.One(At(10, 15)));  // 0.5/s
        var raised = monitor.One(At(12, 18));  // 1.5/s
        Assert.Equal((false, "rateOfChange", (double?)1.5, (double?)18), (raised!.Cleared, raised.Rule.Name, raised.Score, raised.Value));
        Assert.Null(monitor.One(At(13, 20)));  // 2/s: still raised, de-duplicated
        Assert.Null(monitor.One(At(14, 20.7))); // 0.7/s: between the limits, keeps its state
        Assert.True(monitor.IsRaised("d1", raised.Rule));
        Assert.True(monitor.One(At(24, 21))!.Cleared); // 0.03/s
        // Falling just as fast counts too.
        Assert.False(monitor.One(At(25, 18))!.Cleared);
    }

    [Fact]
    public void A_reading_with_an_older_or_same_timestamp_is_not_a_rate()
    {
        var monitor = new AlertMonitor([AlertRule.RateOfChange("temp", 1.0, 0.5)]);
        monitor.One(At(10, 10));
        Assert.Null(monitor.One(At(10, 100)));
        Assert.Null(monitor.One(At(5, 100)));
    }

    [Fact]
    public void Ewma_z_score_flags_a_drift_after_warm_up_and_clears_when_it_settles()
    {
        var monitor = new AlertMonitor([AlertRule.Ewma("temp", alpha: 0.1, raiseAboveZ: 4, clearBelowZ: 2, warmUp: 20)]);
        var noise = new[] { 0.1, -0.1, 0.2, -0.2, 0.0 };
        for (var i = 0; i < 50; i++) Assert.Null(monitor.One(At(i, 20 + noise[i % noise.Length])));
        var raised = monitor.One(At(50, 25));
        Assert.Equal((false, "anomaly"), (raised!.Cleared, raised.Rule.Name));
        Assert.True(raised.Score > 4, raised.Score.ToString());
        Alert? cleared = null;
        for (var i = 51; i < 200 && cleared is null; i++) cleared = monitor.One(At(i, 20 + noise[i % noise.Length]));
        Assert.True(cleared?.Cleared);
    }

    [Fact]
    public void Warm_up_readings_never_alert_and_devices_are_independent()
    {
        var monitor = new AlertMonitor([AlertRule.Ewma("temp", 0.1, 4, 2, warmUp: 10)]);
        for (var i = 0; i < 9; i++) Assert.Null(monitor.One(At(i, i % 2 == 0 ? 0 : 1000)));
        for (var i = 0; i < 30; i++) monitor.One(At(i, 20 + (i % 2 == 0 ? 0.1 : -0.1), "d2"));
        Assert.NotNull(monitor.One(At(31, 40, "d2")));
        var rule = AlertRule.Ewma("temp", 0.1, 4, 2, warmUp: 10);
        Assert.False(monitor.IsRaised("d1", rule));
        Assert.True(monitor.IsRaised("d2", rule));
        Assert.False(monitor.IsRaised("d2", AlertRule.RateOfChange("temp", 4, 2))); // the metric's rule is of the other kind
    }

    [Fact]
    public void Processing_a_known_series_allocates_nothing()
    {
        var monitor = new AlertMonitor([AlertRule.RateOfChange("temp", 1e9, 1e8), AlertRule.Ewma("hum", 0.1, 1e9, 1e8, 5)]);
        const int PerPass = 10_000, Passes = 5;
        // Time keeps moving forward across passes, as a live stream's would.
        var records = Enumerable.Range(0, PerPass * (Passes + 1)).Select(i => new TelemetryRecord("d" + (i % 10), i % 2 == 0 ? "temp" : "hum", 20 + (i % 3), Start.AddSeconds(i))).ToArray();
        for (var i = 0; i < PerPass; i++) monitor.Process([records[i]]); // every device and metric is known from here on
        var bytes = Allocations.SteadyStateBytes(pass =>
        {
            for (var i = (pass + 1) * PerPass; i < (pass + 2) * PerPass; i++) monitor.Process([records[i]]);
        }, Passes);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void Bad_rules_are_refused_naming_the_limit()
    {
        Assert.Contains("clearBelowPerSecond", Assert.Throws<ArgumentException>(() => AlertRule.RateOfChange("temp", 1, 2)).Message);
        Assert.Throws<ArgumentException>(() => AlertRule.RateOfChange("temp", double.NaN, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => AlertRule.RateOfChange("temp", -1, -2));
        Assert.Contains("alpha", Assert.Throws<ArgumentOutOfRangeException>(() => AlertRule.Ewma("temp", 0, 4, 2, 10)).Message);
        Assert.Contains("warmUp", Assert.Throws<ArgumentOutOfRangeException>(() => AlertRule.Ewma("temp", 0.1, 4, 2, 1)).Message);
        Assert.Throws<ArgumentException>(() => AlertRule.Ewma("temp", 0.1, 2, 4, 10));
        Assert.Throws<ArgumentException>(() => AlertRule.Ewma("", 0.1, 4, 2, 10));
        // One rate or anomaly rule per metric, as for thresholds: a record then has at most one transition of each to report.
        Assert.Throws<ArgumentException>(() => new AlertMonitor([AlertRule.RateOfChange("temp", 1, 0), AlertRule.Ewma("temp", 0.1, 4, 2, 10)]));
        // A threshold and an anomaly rule on one metric are two rules of different kinds: allowed.
        _ = new AlertMonitor([AlertRule.Threshold("temp", 1, 0), AlertRule.Ewma("temp", 0.1, 4, 2, 10)]);
        Assert.Throws<ArgumentException>(() => new AlertMonitor([]));
        Assert.Throws<ArgumentNullException>(() => new AlertMonitor([null!]));
        Assert.Throws<ArgumentException>(() => new AlertMonitor([AlertRule.Ewma("temp", 0.1, 4, 2, 10)]).Process([default]));
    }
}
