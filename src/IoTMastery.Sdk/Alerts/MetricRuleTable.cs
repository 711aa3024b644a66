using System.Collections.Frozen;
using System.Runtime.InteropServices;

namespace IoTMastery.Sdk;

/// <summary>
/// The storage both metric evaluators share: at most one rule per metric, found by one frozen lookup, and per device one
/// array of state indexed like the rules (one ordinal lookup by device per record; a (device, metric) tuple key would hash
/// both strings with the randomized hash every time). Every member but the constructor is used under <see cref="Sync"/>.
/// </summary>
/// <typeparam name="TRule">The rule type.</typeparam>
/// <typeparam name="TState">One device and metric's state; its default value is "has seen nothing".</typeparam>
internal sealed class MetricRuleTable<TRule, TState>
    where TRule : class
{
    private readonly Dictionary<string, TState[]> _devices = new(StringComparer.Ordinal);

    /// <param name="rules">The rules, validated each for itself already.</param>
    /// <param name="metricOf">A rule's metric.</param>
    /// <param name="what">How the error names a rule of this kind ("rule", "anomaly rule").</param>
    /// <exception cref="ArgumentException">Two rules watch the same metric.</exception>
    public MetricRuleTable(IEnumerable<TRule> rules, Func<TRule, string> metricOf, string what)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var list = new List<TRule>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var rule in rules)
        {
            ArgumentNullException.ThrowIfNull(rule, nameof(rules));
            var metric = metricOf(rule);
            if (!index.TryAdd(metric, list.Count))
                throw new ArgumentException($"Only one {what} per metric; '{ErrorText.Escape(metric)}' has two.", nameof(rules));
            list.Add(rule);
        }
        Rules = [.. list];
        Index = index.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The rules, in the order given.</summary>
    public TRule[] Rules { get; }

    /// <summary>Metric name to index in <see cref="Rules"/> and in every device's state.</summary>
    public FrozenDictionary<string, int> Index { get; }

    /// <summary>Guards the device states; <see cref="CombinedEvaluator"/> holds it for a whole batch.</summary>
    public Lock Sync { get; } = new();

    /// <summary>The device's states, one per rule, created on first sight.</summary>
    public TState[] Row(string deviceId)
    {
        ref var row = ref CollectionsMarshal.GetValueRefOrAddDefault(_devices, deviceId, out _);
        return row ??= new TState[Rules.Length];
    }

    /// <summary>The device's states, if it was ever seen.</summary>
    public bool TryGetRow(string deviceId, out TState[] row) => _devices.TryGetValue(deviceId, out row!);
}
