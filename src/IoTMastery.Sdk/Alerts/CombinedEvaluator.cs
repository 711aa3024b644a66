using System.Collections.Frozen;
using System.Runtime.CompilerServices;

namespace IoTMastery.Sdk;

/// <summary>
/// Runs a <see cref="HealthMonitor"/> (silence bookkeeping), an <see cref="AnomalyEvaluator"/> (rate of change, EWMA) and an
/// <see cref="AlertEvaluator"/> (thresholds) over the same telemetry in one pass per batch, with the same results as feeding
/// every record to each of them. The state stays in those evaluators, so their <c>IsRaised</c>, <see cref="FleetHealthSummary.Create"/>,
/// <see cref="HealthMonitor.Evaluate"/>, presence and alert streams see what this evaluator did, and records may also go to
/// them directly. Allocates nothing per record once every device is known. Thread-safe.
/// </summary>
public sealed class CombinedEvaluator
{
    // What makes this cheaper than the three calls: a record's device id is looked up once (not once per evaluator), and
    // usually not hashed at all: the SDK's decoder interns device ids, so the same device arrives as the same string object,
    // and a small cache by object identity (the hash the runtime keeps in the object header, not one over the characters)
    // finds its state; metric names are interned too, and found the same way, once for both metric evaluators; the clock is
    // read and the locks are taken once per batch.
    private const int RecentSize = 4096; // a power of two; 64 KB of references, enough for a few thousand active devices
    private const int RecentMetricSize = 64; // a power of two; metrics are few
    private static readonly MetricRules NoRules = new(null, -1, null, -1);
    private readonly HealthMonitor? _health;
    private readonly AnomalyEvaluator? _anomalies;
    private readonly AlertEvaluator? _thresholds;
    private readonly FrozenDictionary<string, MetricRules> _metrics;
    private readonly Dictionary<string, DeviceRow> _devices = new(StringComparer.Ordinal);
    private readonly Recent[] _recent = new Recent[RecentSize];
    private readonly RecentMetric[] _recentMetrics = new RecentMetric[RecentMetricSize];
    private readonly Lock _lock = new();
    // Stand-ins for the locks of absent evaluators, so one fixed lock order covers every combination.
    private readonly Lock _healthLock, _anomalyLock, _thresholdLock;
    private long _forgottenSeen;

    /// <summary>Creates an evaluator over the given evaluators; at least one is needed.</summary>
    /// <param name="health">Silence bookkeeping (each record marks its device as heard from now), or null.</param>
    /// <param name="anomalies">Rate-of-change and anomaly rules, or null.</param>
    /// <param name="thresholds">Threshold rules, or null.</param>
    /// <exception cref="ArgumentException">All three are null.</exception>
    public CombinedEvaluator(HealthMonitor? health = null, AnomalyEvaluator? anomalies = null, AlertEvaluator? thresholds = null)
    {
        if (health is null && anomalies is null && thresholds is null)
            throw new ArgumentException("Give at least one of health, anomalies and thresholds; a combined evaluator of nothing would never alert.", nameof(health));
        (_health, _anomalies, _thresholds) = (health, anomalies, thresholds);
        _healthLock = health?.Sync ?? new Lock();
        _anomalyLock = anomalies?.Table.Sync ?? new Lock();
        _thresholdLock = thresholds?.Table.Sync ?? new Lock();

        var metrics = new Dictionary<string, MetricRules>(StringComparer.Ordinal);
        if (thresholds is not null)
            foreach (var (metric, index) in thresholds.Table.Index)
                metrics[metric] = new MetricRules(thresholds.Table.Rules[index], index, null, -1);
        if (anomalies is not null)
            foreach (var (metric, index) in anomalies.Table.Index)
                metrics[metric] = metrics.TryGetValue(metric, out var r)
                    ? r with { Anomaly = anomalies.Table.Rules[index], AnomalyIndex = index }
                    : new MetricRules(null, -1, anomalies.Table.Rules[index], index);
        _metrics = metrics.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>
    /// Applies every rule to a batch of records (one decoded message, one read from a channel), observed at one instant of the
    /// health monitor's clock, and adds each transition to <paramref name="alerts"/> (when given), in the order they happened;
    /// <see cref="Alert.Rule"/> tells them apart. Silence alerts cleared are also streamed by the monitor, as
    /// <see cref="HealthMonitor.Observe(ReadOnlySpan{TelemetryRecord})"/> does.
    /// </summary>
    /// <param name="records">The batch, in arrival order.</param>
    /// <param name="alerts">Receives every transition of every rule; null: only counted.</param>
    /// <returns>How many transitions the batch caused, of all kinds.</returns>
    /// <exception cref="ArgumentException">A record is <c>default</c>; then none of the batch is applied.</exception>
    public int Process(ReadOnlySpan<TelemetryRecord> records, ICollection<Alert>? alerts = null)
    {
        foreach (ref readonly var record in records)
            if (!record.IsInitialized)
                throw new ArgumentException("A telemetry record of the batch is not initialized.", nameof(records));
        if (records.IsEmpty) return 0;
        var now = _health?.Time.GetUtcNow() ?? default;
        var transitions = 0;
        List<Alert>? cleared = null;
        // Always this order (ours, then health, anomaly, threshold); the evaluators' own methods take only their own lock.
        lock (_lock)
        lock (_healthLock)
        lock (_anomalyLock)
        lock (_thresholdLock)
        {
            if (_health is not null && _health.ForgottenCount != _forgottenSeen)
            {
                // A forgotten device's entry is no longer the monitor's: take fresh ones.
                _devices.Clear();
                Array.Clear(_recent);
                _forgottenSeen = _health.ForgottenCount;
            }
            string? lastDevice = null;
            DeviceRow row = null!;
            foreach (ref readonly var record in records)
            {
                if (!ReferenceEquals(record.DeviceId, lastDevice))
                {
                    ref var recent = ref _recent[RuntimeHelpers.GetHashCode(record.DeviceId) & (RecentSize - 1)];
                    if (!ReferenceEquals(recent.DeviceId, record.DeviceId))
                        recent = new Recent(record.DeviceId, Row(record.DeviceId, now));
                    row = recent.Row;
                    lastDevice = record.DeviceId;
                }
                if (row.Health is { } device && HealthMonitor.Seen(device, record.DeviceId, now) is { } silence)
                {
                    (cleared ??= []).Add(silence);
                    alerts?.Add(silence);
                    transitions++;
                }
                ref var metric = ref _recentMetrics[RuntimeHelpers.GetHashCode(record.Metric) & (RecentMetricSize - 1)];
                if (!ReferenceEquals(metric.Metric, record.Metric))
                    metric = new RecentMetric(record.Metric, _metrics.GetValueOrDefault(record.Metric, NoRules));
                var rules = metric.Rules;
                if (rules.ThresholdIndex >= 0
                    && AlertEvaluator.Apply(rules.Threshold!, ref row.Thresholds![rules.ThresholdIndex], record) is { } threshold)
                {
                    alerts?.Add(threshold);
                    transitions++;
                }
                if (rules.AnomalyIndex >= 0
                    && AnomalyEvaluator.Apply(rules.Anomaly!, ref row.Series![rules.AnomalyIndex], record) is { } anomaly)
                {
                    alerts?.Add(anomaly);
                    transitions++;
                }
            }
        }
        if (cleared is not null)
            foreach (var alert in cleared) _health!.Publish(alert);
        return transitions;
    }

    // Under every lock: the device's state in each evaluator, found once and kept.
    private DeviceRow Row(string deviceId, DateTimeOffset now)
    {
        if (!_devices.TryGetValue(deviceId, out var row))
            _devices[deviceId] = row = new DeviceRow(_health?.Entry(deviceId, now), _anomalies?.Table.Row(deviceId), _thresholds?.Table.Row(deviceId));
        return row;
    }

    /// <summary>A device id object seen lately and its state; a different string with the same characters just misses.</summary>
    private readonly record struct Recent(string? DeviceId, DeviceRow Row);

    /// <summary>A metric name object seen lately and its rules (<see cref="NoRules"/> when it has none).</summary>
    private readonly record struct RecentMetric(string? Metric, MetricRules Rules);

    /// <summary>The rules of one metric: at most one threshold and one anomaly rule, with their indexes in their evaluators.</summary>
    private readonly record struct MetricRules(ThresholdAlertRule? Threshold, int ThresholdIndex, AnomalyRule? Anomaly, int AnomalyIndex);

    /// <summary>References to one device's state inside each evaluator (the same objects they use, not copies).</summary>
    private sealed record DeviceRow(HealthMonitor.DeviceHealth? Health, AnomalyEvaluator.Series[]? Series, bool[]? Thresholds);
}
