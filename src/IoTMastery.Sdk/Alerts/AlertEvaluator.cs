using System.Collections.Frozen;
using System.Runtime.InteropServices;

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
    // One frozen lookup by metric and one ordinal lookup by device per record, as in AnomalyEvaluator: a (device, metric)
    // tuple key would hash both strings with the randomized hash every time.
    private readonly ThresholdAlertRule[] _rules;
    private readonly FrozenDictionary<string, int> _ruleIndex;
    private readonly Dictionary<string, bool[]> _raised = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Creates an evaluator for a set of rules, at most one per metric.</summary>
    /// <exception cref="ArgumentException">Two rules watch the same metric.</exception>
    public AlertEvaluator(IEnumerable<ThresholdAlertRule> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var list = new List<ThresholdAlertRule>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var rule in rules)
        {
            ArgumentNullException.ThrowIfNull(rule, nameof(rules));
            if (!index.TryAdd(rule.Metric, list.Count))
                throw new ArgumentException($"Only one rule per metric; '{ErrorText.Escape(rule.Metric)}' has two.", nameof(rules));
            list.Add(rule);
        }
        _rules = [.. list];
        _ruleIndex = index.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The rules, in the order given, for the fleet summary.</summary>
    internal IEnumerable<ThresholdAlertRule> Rules => _rules;

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
        if (!_ruleIndex.TryGetValue(record.Metric, out var index))
            return null;
        lock (_lock)
            return Apply(_rules[index], ref Row(record.DeviceId)[index], record);
    }

    /// <summary>The lock that guards every device's flags; <see cref="CombinedEvaluator"/> holds it for a whole batch.</summary>
    internal Lock Sync => _lock;

    /// <summary>The metric-to-rule index, for <see cref="CombinedEvaluator"/>'s one lookup per record.</summary>
    internal FrozenDictionary<string, int> RuleIndex => _ruleIndex;

    /// <summary>The rule at an index of <see cref="RuleIndex"/>.</summary>
    internal ThresholdAlertRule RuleAt(int index) => _rules[index];

    /// <summary>Under <see cref="Sync"/>: the device's raised flags, one per rule, created on first sight.</summary>
    internal bool[] Row(string deviceId)
    {
        ref var flags = ref CollectionsMarshal.GetValueRefOrAddDefault(_raised, deviceId, out _);
        return flags ??= new bool[_rules.Length];
    }

    /// <summary>Under <see cref="Sync"/>: applies one rule to one reading given the flag of its device and metric.</summary>
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
        if (!_ruleIndex.TryGetValue(metric, out var index)) return false;
        lock (_lock)
            return _raised.TryGetValue(deviceId, out var flags) && flags[index];
    }
}
