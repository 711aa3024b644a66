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
    private readonly Dictionary<string, ThresholdAlertRule> _rules;
    private readonly HashSet<(string DeviceId, string Metric)> _raised = [];
    private readonly Lock _lock = new();

    /// <summary>Creates an evaluator for a set of rules, at most one per metric.</summary>
    /// <exception cref="ArgumentException">Two rules watch the same metric.</exception>
    public AlertEvaluator(IEnumerable<ThresholdAlertRule> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        _rules = new Dictionary<string, ThresholdAlertRule>(StringComparer.Ordinal);
        foreach (var rule in rules)
        {
            ArgumentNullException.ThrowIfNull(rule, nameof(rules));
            if (!_rules.TryAdd(rule.Metric, rule))
                throw new ArgumentException($"Only one rule per metric; '{ErrorText.Escape(rule.Metric)}' has two.", nameof(rules));
        }
    }

    /// <summary>
    /// Applies the record's metric rule, if any. Returns <see cref="AlertEventKind.Raised"/> when a clear
    /// device+metric reads above the raise threshold, <see cref="AlertEventKind.Cleared"/> when a raised
    /// one reads below the clear threshold, and <see langword="null"/> otherwise.
    /// </summary>
    /// <exception cref="ArgumentException">The record is <c>default</c>.</exception>
    public AlertEvent? Process(in TelemetryRecord record)
    {
        if (!record.IsInitialized)
            throw new ArgumentException("The telemetry record is not initialized.", nameof(record));
        if (!_rules.TryGetValue(record.Metric, out var rule))
            return null;
        var key = (record.DeviceId, record.Metric);
        lock (_lock)
        {
            var raised = _raised.Contains(key);
            if (!raised && record.Value > rule.RaiseAbove)
            {
                _raised.Add(key);
                return new AlertEvent(AlertEventKind.Raised, record.DeviceId, record.Metric, record.Value, record.Timestamp, rule);
            }
            if (raised && record.Value < rule.ClearBelow)
            {
                _raised.Remove(key);
                return new AlertEvent(AlertEventKind.Cleared, record.DeviceId, record.Metric, record.Value, record.Timestamp, rule);
            }
            return null;
        }
    }

    /// <summary>The rules, in the order given, for the fleet summary.</summary>
    internal IEnumerable<ThresholdAlertRule> Rules => _rules.Values;

    /// <summary>Whether the alert for this device and metric is raised now.</summary>
    public bool IsRaised(string deviceId, string metric)
    {
        lock (_lock)
            return _raised.Contains((deviceId, metric));
    }
}
