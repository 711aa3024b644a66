using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Alerts;

public class ThresholdRuleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static TelemetryRecord R(string device, double value, int second = 0, string metric = "temp") =>
        new(device, metric, value, T0.AddSeconds(second));

    [Fact]
    public void Raises_above_and_clears_only_below_the_lower_threshold()
    {
        var monitor = new AlertMonitor([AlertRule.Threshold("temp", raiseAbove: 80, clearBelow: 70)]);

        Assert.Null(monitor.One(R("d1", 80)));                 // at the threshold is not above
        var raised = monitor.One(R("d1", 81, 1));
        Assert.NotNull(raised);
        Assert.False(raised.Cleared);
        Assert.Equal((AlertRule.Threshold("temp", 80, 70), "threshold", "d1", "temp", (double?)81d, T0.AddSeconds(1)), (raised.Rule, raised.Rule.Name, raised.DeviceId, raised.Metric, raised.Value, raised.Timestamp));
        Assert.Equal(((double?)null, (TimeSpan?)null), (raised.Score, raised.Duration)); // only other rules have these

        // Wobbling between the thresholds never flaps.
        foreach (var v in new[] { 79d, 85, 71, 70, 90, 75 })
            Assert.Null(monitor.One(R("d1", v, 2)));
        Assert.True(monitor.IsRaised("d1", raised.Rule));

        var cleared = monitor.One(R("d1", 69.9, 3));
        Assert.True(cleared?.Cleared);
        Assert.Null(monitor.One(R("d1", 75, 4)));              // between thresholds: stays clear
        Assert.False(monitor.One(R("d1", 100, 5))?.Cleared);
    }

    [Fact]
    public void State_is_per_device_and_metric_and_other_metrics_are_ignored()
    {
        var monitor = new AlertMonitor([AlertRule.Threshold("temp", 80, 70)]);
        Assert.NotNull(monitor.One(R("d1", 90)));
        Assert.NotNull(monitor.One(R("d2", 90)));
        Assert.Null(monitor.One(R("d1", 95)));
        Assert.Null(monitor.One(R("d1", 1000, metric: "humidity")));
        Assert.False(monitor.IsRaised("d1", AlertRule.Threshold("humidity", 80, 70)));
        // The whole rule names the alert: the temperature rule is no anomaly rule, nor one with other limits.
        Assert.False(monitor.IsRaised("d1", AlertRule.Ewma("temp", 0.1, 3, 1, 5)) || monitor.IsRaised("d1", AlertRule.Threshold("temp", 85, 70)));
        Assert.True(monitor.IsRaised("d1", AlertRule.Threshold("temp", 80, 70)));
    }

    [Theory]
    [InlineData(70, 80)]
    [InlineData(double.NaN, 1)]
    [InlineData(1, double.NaN)]
    [InlineData(double.PositiveInfinity, 1)]
    public void Invalid_rules_are_rejected(double raiseAbove, double clearBelow) =>
        Assert.ThrowsAny<ArgumentException>(() => AlertRule.Threshold("temp", raiseAbove, clearBelow));

    [Fact]
    public void Equal_thresholds_are_allowed_and_two_rules_for_one_metric_are_not()
    {
        var rule = AlertRule.Threshold("temp", 50, 50);
        Assert.Throws<ArgumentException>(() => new AlertMonitor([rule, AlertRule.Threshold("temp", 60, 40)]));
        Assert.Throws<ArgumentException>(() => new AlertMonitor([rule]).Process([default]));
        Assert.Throws<ArgumentException>(() => AlertRule.Threshold("", 1, 0));
        Assert.Throws<ArgumentException>(() => AlertRule.Threshold(new string('m', TelemetryRecord.MaxMetricLength + 1), 1, 0));
        // Rules are values: the same factory arguments make equal rules.
        Assert.Equal(AlertRule.Threshold("temp", 50, 50), rule);
    }

    [Fact]
    public void Processing_records_of_known_devices_allocates_nothing_and_two_rules_keep_separate_states()
    {
        var monitor = new AlertMonitor([AlertRule.Threshold("temp", 50, 40), AlertRule.Threshold("hum", 90, 80)]);
        Assert.NotNull(monitor.One(R("d1", 95, metric: "hum")));
        Assert.True(monitor.IsRaised("d1", AlertRule.Threshold("hum", 90, 80)));
        Assert.False(monitor.IsRaised("d1", AlertRule.Threshold("temp", 50, 40)));
        Assert.False(monitor.IsRaised("d1", AlertRule.Threshold("pressure", 50, 40)));
        var records = Enumerable.Range(0, 1_000).Select(i => R("d" + (i % 50), 20 + i % 5, i, i % 2 == 0 ? "temp" : "pressure")).ToArray();
        foreach (var r in records) monitor.Process([r]);
        var bytes = Allocations.SteadyStateBytes(_ =>
        {
            for (var round = 0; round < 100; round++)
                foreach (var r in records) monitor.Process([r]);
        });
        Assert.Equal(0, bytes);
        Assert.True(monitor.IsRaised("d1", AlertRule.Threshold("hum", 90, 80)));
    }
}
