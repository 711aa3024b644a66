namespace IoTMastery.Sdk.Tests.Alerts;

/// <summary>The one-record calls the rule tests make, on top of <see cref="AlertMonitor.Process"/>.</summary>
internal static class MonitorTestExtensions
{
    /// <summary>Processes one record and returns its transition, or null; fails if it caused more than one.</summary>
    public static Alert? One(this AlertMonitor monitor, in TelemetryRecord record)
    {
        var alerts = new List<Alert>();
        var count = monitor.Process([record], alerts);
        Assert.Equal(alerts.Count, count);
        Assert.True(count <= 1, $"{count} transitions from one record");
        return alerts.Count == 0 ? null : alerts[0];
    }
}
