namespace IoTMastery.Sdk;

/// <summary>Whether an alert started or ended.</summary>
public enum AlertEventKind
{
    /// <summary>The metric went above the rule's raise threshold.</summary>
    Raised,

    /// <summary>The metric fell below the rule's clear threshold.</summary>
    Cleared,
}

/// <summary>An alert transition for one device and metric.</summary>
/// <param name="Kind">Raised or cleared.</param>
/// <param name="DeviceId">The device.</param>
/// <param name="Metric">The metric.</param>
/// <param name="Value">The reading that caused the transition.</param>
/// <param name="Timestamp">When that reading was taken.</param>
/// <param name="Rule">The rule that fired.</param>
public sealed record AlertEvent(AlertEventKind Kind, string DeviceId, string Metric, double Value, DateTimeOffset Timestamp, ThresholdAlertRule Rule);

/// <summary>
/// Applies <see cref="ThresholdAlertRule"/>s to telemetry, keeping one raised/clear state per device
/// and metric, and reports only transitions. Thread-safe.
/// </summary>
public sealed class AlertEvaluator
{
    private readonly MetricRuleTable<ThresholdAlertRule, bool> _table;

    /// <summary>Creates an evaluator for a set of rules, at most one per metric.</summary>
    /// <exception cref="ArgumentException">Two rules watch the same metric.</exception>
    public AlertEvaluator(IEnumerable<ThresholdAlertRule> rules) => _table = new(rules, r => r.Metric, "rule");

    /// <summary>The rules, in the order given, for the fleet summary.</summary>
    internal IEnumerable<ThresholdAlertRule> Rules => _table.Rules;

    /// <summary>The rules and every device's raised flags; <see cref="CombinedEvaluator"/> works on them directly.</summary>
    internal MetricRuleTable<ThresholdAlertRule, bool> Table => _table;

    /// <summary>
    /// Applies the record's metric rule, if any. Returns <see cref="AlertEventKind.Raised"/> when a clear
    /// device+metric reads above the raise threshold, <see cref="AlertEventKind.Cleared"/> when a raised
    /// one reads below the clear threshold, and <see langword="null"/> otherwise. Allocates nothing once the device is known.
    /// </summary>
    /// <exception cref="ArgumentException">The record is <c>default</c>.</exception>
    public AlertEvent? Process(in TelemetryRecord record)
    {
        if (!record.IsInitialized)
            throw new ArgumentException("The telemetry record is not initialized.", nameof(record));
        if (!_table.Index.TryGetValue(record.Metric, out var index))
            return null;
        lock (_table.Sync)
            return Apply(_table.Rules[index], ref _table.Row(record.DeviceId)[index], record);
    }

    /// <summary>Under the table's lock: applies one rule to one reading given the flag of its device and metric.</summary>
    internal static AlertEvent? Apply(ThresholdAlertRule rule, ref bool raised, in TelemetryRecord record)
    {
        if (!raised && record.Value > rule.RaiseAbove)
        {
            raised = true;
            return new AlertEvent(AlertEventKind.Raised, record.DeviceId, record.Metric, record.Value, record.Timestamp, rule);
        }
        if (raised && record.Value < rule.ClearBelow)
        {
            raised = false;
            return new AlertEvent(AlertEventKind.Cleared, record.DeviceId, record.Metric, record.Value, record.Timestamp, rule);
        }
        return null;
    }

    /// <summary>Whether the alert for this device and metric is raised now.</summary>
    public bool IsRaised(string deviceId, string metric)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        ArgumentNullException.ThrowIfNull(metric);
        if (!_table.Index.TryGetValue(metric, out var index)) return false;
        lock (_table.Sync)
            return _table.TryGetRow(deviceId, out var flags) && flags[index];
    }
}
