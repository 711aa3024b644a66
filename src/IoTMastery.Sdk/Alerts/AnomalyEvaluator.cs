namespace IoTMastery.Sdk;

/// <summary>A statistical or rate rule over one metric; see <see cref="RateOfChangeRule"/> and <see cref="EwmaAnomalyRule"/>.</summary>
public abstract record AnomalyRule
{
    private protected AnomalyRule(string metric)
    {
        ArgumentException.ThrowIfNullOrEmpty(metric);
        if (metric.Length > TelemetryRecord.MaxMetricLength)
            throw new ArgumentException($"Metric names are at most {TelemetryRecord.MaxMetricLength} characters; got {metric.Length}.", nameof(metric));
        Metric = metric;
    }

    /// <summary>The metric the rule watches.</summary>
    public string Metric { get; }

    internal abstract AlertRuleKind Kind { get; }

    private protected static void Finite(double value, string name)
    {
        if (!double.IsFinite(value)) throw new ArgumentException($"{name} must be a finite number; got {value}.", name);
    }
}

/// <summary>
/// Raised when a metric changes faster than <see cref="RaiseAbovePerSecond"/> (either direction, per second of the readings'
/// own timestamps), cleared only when it changes slower than <see cref="ClearBelowPerSecond"/>: the gap is the hysteresis.
/// </summary>
public sealed record RateOfChangeRule : AnomalyRule
{
    /// <summary>Creates and validates a rule.</summary>
    /// <exception cref="ArgumentException">A limit is not finite, or the clear limit is above the raise limit.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The raise limit is not positive or the clear limit is negative.</exception>
    public RateOfChangeRule(string metric, double raiseAbovePerSecond, double clearBelowPerSecond) : base(metric)
    {
        Finite(raiseAbovePerSecond, nameof(RaiseAbovePerSecond));
        Finite(clearBelowPerSecond, nameof(ClearBelowPerSecond));
        if (raiseAbovePerSecond <= 0) throw new ArgumentOutOfRangeException(nameof(RaiseAbovePerSecond), raiseAbovePerSecond, "RaiseAbovePerSecond must be positive.");
        if (clearBelowPerSecond < 0) throw new ArgumentOutOfRangeException(nameof(ClearBelowPerSecond), clearBelowPerSecond, "ClearBelowPerSecond must not be negative.");
        if (clearBelowPerSecond > raiseAbovePerSecond)
            throw new ArgumentException($"ClearBelowPerSecond ({clearBelowPerSecond}) must be at most RaiseAbovePerSecond ({raiseAbovePerSecond}), or the alert would flap.", nameof(ClearBelowPerSecond));
        RaiseAbovePerSecond = raiseAbovePerSecond;
        ClearBelowPerSecond = clearBelowPerSecond;
    }

    /// <summary>A change faster than this (absolute, per second) raises the alert.</summary>
    public double RaiseAbovePerSecond { get; }

    /// <summary>A change slower than this clears a raised alert.</summary>
    public double ClearBelowPerSecond { get; }

    internal override AlertRuleKind Kind => AlertRuleKind.RateOfChange;
}

/// <summary>
/// An exponentially weighted mean and variance per device and metric; a reading whose z-score against them (computed before
/// the reading is folded in, so an outlier cannot hide itself) exceeds <see cref="RaiseAboveZ"/> raises, one below
/// <see cref="ClearBelowZ"/> clears. The first <see cref="WarmUp"/> readings only learn.
/// </summary>
public sealed record EwmaAnomalyRule : AnomalyRule
{
    /// <summary>Creates and validates a rule.</summary>
    /// <param name="metric">The metric.</param>
    /// <param name="alpha">Weight of the newest reading, in (0, 1): 0.05 remembers about 20 readings, 0.3 about 3.</param>
    /// <param name="raiseAboveZ">|z| above this raises.</param>
    /// <param name="clearBelowZ">|z| below this clears; at most <paramref name="raiseAboveZ"/>.</param>
    /// <param name="warmUp">Readings learned before any alert, at least 2.</param>
    /// <exception cref="ArgumentException">A limit is not finite or the clear limit is above the raise limit.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/>, <paramref name="warmUp"/> or a limit out of range.</exception>
    public EwmaAnomalyRule(string metric, double alpha, double raiseAboveZ, double clearBelowZ, int warmUp) : base(metric)
    {
        if (!(alpha > 0 && alpha < 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be between 0 and 1, exclusive.");
        if (warmUp < 2) throw new ArgumentOutOfRangeException(nameof(warmUp), warmUp, "warmUp must be at least 2 readings, or the variance means nothing.");
        Finite(raiseAboveZ, nameof(RaiseAboveZ));
        Finite(clearBelowZ, nameof(ClearBelowZ));
        if (raiseAboveZ <= 0 || clearBelowZ < 0)
            throw new ArgumentOutOfRangeException(nameof(RaiseAboveZ), raiseAboveZ, "RaiseAboveZ must be positive and ClearBelowZ not negative.");
        if (clearBelowZ > raiseAboveZ)
            throw new ArgumentException($"ClearBelowZ ({clearBelowZ}) must be at most RaiseAboveZ ({raiseAboveZ}), or the alert would flap.", nameof(ClearBelowZ));
        Alpha = alpha;
        RaiseAboveZ = raiseAboveZ;
        ClearBelowZ = clearBelowZ;
        WarmUp = warmUp;
    }

    /// <summary>Weight of the newest reading.</summary>
    public double Alpha { get; }

    /// <summary>|z| above this raises.</summary>
    public double RaiseAboveZ { get; }

    /// <summary>|z| below this clears.</summary>
    public double ClearBelowZ { get; }

    /// <summary>Readings learned before any alert.</summary>
    public int WarmUp { get; }

    internal override AlertRuleKind Kind => AlertRuleKind.Anomaly;
}

/// <summary>
/// Applies <see cref="AnomalyRule"/>s (at most one per metric) to telemetry, one state per device and metric, and reports
/// only transitions, like <see cref="AlertEvaluator"/>. Allocates nothing per record once a series is known. Thread-safe.
/// </summary>
public sealed class AnomalyEvaluator
{
    private readonly MetricRuleTable<AnomalyRule, Series> _table;

    /// <summary>Creates an evaluator.</summary>
    /// <exception cref="ArgumentException">Two rules watch the same metric.</exception>
    public AnomalyEvaluator(IEnumerable<AnomalyRule> rules) => _table = new(rules, r => r.Metric, "anomaly rule");

    /// <summary>The rules, in the order given, for the fleet summary.</summary>
    internal IEnumerable<AnomalyRule> Rules => _table.Rules;

    /// <summary>The rules and every device's series; <see cref="CombinedEvaluator"/> works on them directly.</summary>
    internal MetricRuleTable<AnomalyRule, Series> Table => _table;

    /// <summary>Applies the record's metric rule, if any; returns the transition it caused, or null.</summary>
    /// <exception cref="ArgumentException">The record is <c>default</c>.</exception>
    public Alert? Process(in TelemetryRecord record)
    {
        if (!record.IsInitialized)
            throw new ArgumentException("The telemetry record is not initialized.", nameof(record));
        if (!_table.Index.TryGetValue(record.Metric, out var index)) return null;
        lock (_table.Sync)
            return Apply(_table.Rules[index], ref _table.Row(record.DeviceId)[index], record);
    }

    /// <summary>Under the table's lock: applies one rule to one reading given the state of its device and metric.</summary>
    internal static Alert? Apply(AnomalyRule rule, ref Series series, in TelemetryRecord record) =>
        // A type test on two sealed kinds, not a virtual call: the JIT turns it into one method-table compare.
        rule is RateOfChangeRule rate ? Rate(rate, ref series, record) : Ewma((EwmaAnomalyRule)rule, ref series, record);

    /// <summary>Whether the given rule's alert is raised for this device and metric now.</summary>
    public bool IsRaised(string deviceId, string metric, AlertRuleKind rule)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        ArgumentNullException.ThrowIfNull(metric);
        if (!_table.Index.TryGetValue(metric, out var index) || _table.Rules[index].Kind != rule) return false;
        lock (_table.Sync)
            return _table.TryGetRow(deviceId, out var slots) && slots[index].Raised;
    }

    private static Alert? Rate(RateOfChangeRule rule, ref Series s, in TelemetryRecord record)
    {
        if (!s.HasLast)
        {
            (s.HasLast, s.LastValue, s.LastTime) = (true, record.Value, record.Timestamp);
            return null;
        }
        var seconds = (record.Timestamp - s.LastTime).TotalSeconds;
        // A reading not newer than the last (a retried or reordered batch) says nothing about the rate.
        if (seconds <= 0) return null;
        var perSecond = Math.Abs(record.Value - s.LastValue) / seconds;
        (s.LastValue, s.LastTime) = (record.Value, record.Timestamp);
        return Transition(ref s, record, AlertRuleKind.RateOfChange, perSecond, rule.RaiseAbovePerSecond, rule.ClearBelowPerSecond);
    }

    private static Alert? Ewma(EwmaAnomalyRule rule, ref Series s, in TelemetryRecord record)
    {
        var x = record.Value;
        if (s.Count == 0)
        {
            (s.Mean, s.Variance, s.Count) = (x, 0, 1);
            return null;
        }
        var diff = x - s.Mean;
        var sd = Math.Sqrt(s.Variance);
        // A flat series has no spread: any change from it is "infinitely" unusual, bounded so the score stays a number.
        var z = sd > 0 ? Math.Abs(diff) / sd : (diff == 0 ? 0 : double.MaxValue);
        var increment = rule.Alpha * diff;
        s.Mean += increment;
        s.Variance = (1 - rule.Alpha) * (s.Variance + diff * increment);
        if (s.Count++ < rule.WarmUp) return null;
        return Transition(ref s, record, AlertRuleKind.Anomaly, z, rule.RaiseAboveZ, rule.ClearBelowZ);
    }

    private static Alert? Transition(ref Series s, in TelemetryRecord record, AlertRuleKind kind, double score, double raiseAbove, double clearBelow)
    {
        if (!s.Raised && score > raiseAbove)
        {
            s.Raised = true;
            return Alert.ForReading(AlertEventKind.Raised, kind, record, score);
        }
        if (s.Raised && score < clearBelow)
        {
            s.Raised = false;
            return Alert.ForReading(AlertEventKind.Cleared, kind, record, score);
        }
        return null;
    }

    /// <summary>
    /// One device and metric's state, held by value in the device's array: one allocation per device instead of one per
    /// series, and no pointer to chase per record. The default value is a series that has seen nothing.
    /// </summary>
    internal struct Series
    {
        public bool HasLast;
        public double LastValue;
        public DateTimeOffset LastTime;
        public double Mean;
        public double Variance;
        public long Count;
        public bool Raised;
    }
}
