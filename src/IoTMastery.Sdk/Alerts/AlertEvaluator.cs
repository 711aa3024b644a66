namespace IoTMastery.Sdk;

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
    public Alert? Process(in TelemetryRecord record)
    {
        if (!record.IsInitialized)
            throw new ArgumentException("The telemetry record is not initialized.", nameof(record));
        if (!_table.Index.TryGetValue(record.Metric, out var index))
            return null;
        lock (_table.Sync)
            return Apply(_table.Rules[index], ref _table.Row(record.DeviceId)[index], record);
    }

    /// <summary>Under the table's lock: applies one rule to one reading given the flag of its device and metric.</summary>
    internal static Alert? Apply(ThresholdAlertRule rule, ref bool raised, in TelemetryRecord record)
    {
        if (!raised && record.Value > rule.RaiseAbove)
        {
            raised = true;
            return Alert.ForReading(AlertEventKind.Raised, AlertRuleKind.Threshold, record, null);
        }
        if (raised && record.Value < rule.ClearBelow)
        {
            raised = false;
            return Alert.ForReading(AlertEventKind.Cleared, AlertRuleKind.Threshold, record, null);
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
