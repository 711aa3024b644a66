namespace IoTMastery.Sdk;

/// <summary>
/// One rule an <see cref="AlertMonitor"/> runs, made by a factory per kind: <see cref="Threshold"/>, <see cref="RateOfChange"/>,
/// <see cref="Ewma"/>, <see cref="Silence"/> and <see cref="Offline"/>. Each factory validates its arguments, so every rule
/// that exists is a valid one. Metric rules raise when their score (the value, the rate per second, the |z| score) goes above
/// <see cref="RaiseAbove"/> and clear only when it falls below <see cref="ClearBelow"/>: readings in between keep the state, so
/// a score wobbling around one limit does not flap. Members a kind does not use are null or zero. Rules are values: two
/// rules with the same members are equal, so a rule is also the key of its entry in <see cref="FleetHealthSummary.Firing"/>.
/// </summary>
public sealed record AlertRule
{
    private static readonly TimeSpan DefaultCooldown = TimeSpan.FromMinutes(5);

    // Properties are get-only so that a `with` expression cannot make a rule the factories would refuse.
    private AlertRule(AlertRuleKind kind, string? metric, double raiseAbove, double clearBelow)
    {
        Kind = kind;
        Metric = metric;
        RaiseAbove = raiseAbove;
        ClearBelow = clearBelow;
    }

    /// <summary>
    /// Which kind of rule, as the factory that made it: <c>"threshold"</c>, <c>"rateOfChange"</c>, <c>"anomaly"</c> (an
    /// <see cref="Ewma"/> rule), <c>"silence"</c> or <c>"offline"</c>. The webhook body's <c>"rule"</c> and the logs use
    /// the same text.
    /// </summary>
    public string Name => Alert.RuleName(Kind);

    /// <summary>Which kind of rule, for the monitor's dispatch; callers read <see cref="Name"/>.</summary>
    internal AlertRuleKind Kind { get; }

    /// <summary>The metric a metric rule watches; null for <see cref="Silence"/> and <see cref="Offline"/> rules.</summary>
    public string? Metric { get; }

    /// <summary>
    /// A score strictly above this raises the alert: the reading for a threshold, the absolute change per second for a rate
    /// of change, the |z| score for an EWMA anomaly rule; zero for health rules.
    /// </summary>
    public double RaiseAbove { get; }

    /// <summary>A score strictly below this clears a raised alert (same unit as <see cref="RaiseAbove"/>); zero for health rules.</summary>
    public double ClearBelow { get; }

    /// <summary>The EWMA rule's weight of the newest reading, in (0, 1); zero for other kinds.</summary>
    public double Alpha { get; private init; }

    /// <summary>Readings the EWMA rule learns from before any alert; zero for other kinds.</summary>
    public int WarmUp { get; private init; }

    /// <summary>How long a device must be silent (or offline) before the health rule raises; zero for metric rules.</summary>
    public TimeSpan After { get; private init; }

    /// <summary>
    /// After a health rule's alert clears, the same device cannot raise it again for this long, so a device flapping around
    /// the limit pages once, not every time; zero for metric rules, whose raise and clear limits keep them from flapping.
    /// </summary>
    public TimeSpan Cooldown { get; private init; }

    /// <summary>
    /// A threshold with hysteresis: raised when <paramref name="metric"/> reads strictly above <paramref name="raiseAbove"/>,
    /// cleared only when it reads strictly below <paramref name="clearBelow"/>.
    /// </summary>
    /// <param name="metric">The metric name, 1-128 characters.</param>
    /// <param name="raiseAbove">The alert is raised by a value strictly above this.</param>
    /// <param name="clearBelow">The alert is cleared by a value strictly below this; must be ≤ <paramref name="raiseAbove"/>.</param>
    /// <exception cref="ArgumentException">A threshold is not finite, the metric name is empty or too long, or <paramref name="clearBelow"/> &gt; <paramref name="raiseAbove"/>.</exception>
    public static AlertRule Threshold(string metric, double raiseAbove, double clearBelow)
    {
        CheckMetric(metric);
        Finite(raiseAbove, nameof(raiseAbove));
        Finite(clearBelow, nameof(clearBelow));
        if (clearBelow > raiseAbove)
            throw new ArgumentException($"clearBelow ({clearBelow}) must be less than or equal to raiseAbove ({raiseAbove}), or the alert would flap.", nameof(clearBelow));
        return new AlertRule(AlertRuleKind.Threshold, metric, raiseAbove, clearBelow);
    }

    /// <summary>
    /// Raised when <paramref name="metric"/> changes faster than <paramref name="raiseAbovePerSecond"/> (either direction, per
    /// second of the readings' own timestamps), cleared only when it changes slower than <paramref name="clearBelowPerSecond"/>.
    /// A reading not newer than the device's last one (a retried or reordered batch) says nothing about the rate and is skipped.
    /// </summary>
    /// <exception cref="ArgumentException">A limit is not finite, the metric name is empty or too long, or the clear limit is above the raise limit.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The raise limit is not positive or the clear limit is negative.</exception>
    public static AlertRule RateOfChange(string metric, double raiseAbovePerSecond, double clearBelowPerSecond)
    {
        CheckMetric(metric);
        Finite(raiseAbovePerSecond, nameof(raiseAbovePerSecond));
        Finite(clearBelowPerSecond, nameof(clearBelowPerSecond));
        if (raiseAbovePerSecond <= 0) throw new ArgumentOutOfRangeException(nameof(raiseAbovePerSecond), raiseAbovePerSecond, "raiseAbovePerSecond must be positive.");
        if (clearBelowPerSecond < 0) throw new ArgumentOutOfRangeException(nameof(clearBelowPerSecond), clearBelowPerSecond, "clearBelowPerSecond must not be negative.");
        if (clearBelowPerSecond > raiseAbovePerSecond)
            throw new ArgumentException($"clearBelowPerSecond ({clearBelowPerSecond}) must be at most raiseAbovePerSecond ({raiseAbovePerSecond}), or the alert would flap.", nameof(clearBelowPerSecond));
        return new AlertRule(AlertRuleKind.RateOfChange, metric, raiseAbovePerSecond, clearBelowPerSecond);
    }

    /// <summary>
    /// An exponentially weighted mean and variance per device and metric; a reading whose z-score against them (computed before
    /// the reading is folded in, so an outlier cannot hide itself) exceeds <paramref name="raiseAboveZ"/> raises, one below
    /// <paramref name="clearBelowZ"/> clears. The first <paramref name="warmUp"/> readings only learn.
    /// </summary>
    /// <param name="metric">The metric.</param>
    /// <param name="alpha">Weight of the newest reading, in (0, 1): 0.05 remembers about 20 readings, 0.3 about 3.</param>
    /// <param name="raiseAboveZ">|z| above this raises.</param>
    /// <param name="clearBelowZ">|z| below this clears; at most <paramref name="raiseAboveZ"/>.</param>
    /// <param name="warmUp">Readings learned before any alert, at least 2.</param>
    /// <exception cref="ArgumentException">A limit is not finite, the metric name is empty or too long, or the clear limit is above the raise limit.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/>, <paramref name="warmUp"/> or a limit out of range.</exception>
    public static AlertRule Ewma(string metric, double alpha, double raiseAboveZ, double clearBelowZ, int warmUp)
    {
        CheckMetric(metric);
        if (!(alpha > 0 && alpha < 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be between 0 and 1, exclusive.");
        if (warmUp < 2) throw new ArgumentOutOfRangeException(nameof(warmUp), warmUp, "warmUp must be at least 2 readings, or the variance means nothing.");
        Finite(raiseAboveZ, nameof(raiseAboveZ));
        Finite(clearBelowZ, nameof(clearBelowZ));
        if (raiseAboveZ <= 0 || clearBelowZ < 0)
            throw new ArgumentOutOfRangeException(nameof(raiseAboveZ), raiseAboveZ, "raiseAboveZ must be positive and clearBelowZ not negative.");
        if (clearBelowZ > raiseAboveZ)
            throw new ArgumentException($"clearBelowZ ({clearBelowZ}) must be at most raiseAboveZ ({raiseAboveZ}), or the alert would flap.", nameof(clearBelowZ));
        return new AlertRule(AlertRuleKind.Anomaly, metric, raiseAboveZ, clearBelowZ) { Alpha = alpha, WarmUp = warmUp };
    }

    /// <summary>
    /// Raised when a device that should report (it reported, connected, or was <see cref="AlertMonitor.Expect"/>ed) sends no
    /// telemetry record for longer than <paramref name="silentFor"/> while not known to be disconnected (that is
    /// <see cref="Offline"/>'s case); cleared by its next record.
    /// </summary>
    /// <param name="silentFor">The longest silence that is still fine; positive.</param>
    /// <param name="cooldown">After a clear, no new raise for this long; null: 5 minutes, zero: none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="silentFor"/> is not positive or <paramref name="cooldown"/> is negative.</exception>
    public static AlertRule Silence(TimeSpan silentFor, TimeSpan? cooldown = null) =>
        Health(AlertRuleKind.Silence, silentFor, nameof(silentFor), cooldown);

    /// <summary>Raised when a device stays disconnected for longer than <paramref name="offlineFor"/>; cleared when it connects.</summary>
    /// <param name="offlineFor">The longest disconnection that is still fine; positive.</param>
    /// <param name="cooldown">After a clear, no new raise for this long; null: 5 minutes, zero: none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offlineFor"/> is not positive or <paramref name="cooldown"/> is negative.</exception>
    public static AlertRule Offline(TimeSpan offlineFor, TimeSpan? cooldown = null) =>
        Health(AlertRuleKind.Offline, offlineFor, nameof(offlineFor), cooldown);

    /// <summary>Whether this is a silence or offline rule (judged by the monitor's clock) rather than one over a metric's readings.</summary>
    internal bool IsHealth => Kind is AlertRuleKind.Silence or AlertRuleKind.Offline;

    private static AlertRule Health(AlertRuleKind kind, TimeSpan after, string name, TimeSpan? cooldown)
    {
        if (after <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, after, $"{name} must be positive.");
        var wait = cooldown ?? DefaultCooldown;
        if (wait < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(cooldown), wait, "cooldown must not be negative.");
        return new AlertRule(kind, null, 0, 0) { After = after, Cooldown = wait };
    }

    private static void CheckMetric(string metric)
    {
        ArgumentException.ThrowIfNullOrEmpty(metric);
        if (metric.Length > TelemetryRecord.MaxMetricLength)
            throw new ArgumentException($"Metric names are at most {TelemetryRecord.MaxMetricLength} characters; got {metric.Length}.", nameof(metric));
    }

    private static void Finite(double value, string name)
    {
        if (!double.IsFinite(value)) throw new ArgumentException($"{name} must be a finite number; got {value}.", name);
    }
}
