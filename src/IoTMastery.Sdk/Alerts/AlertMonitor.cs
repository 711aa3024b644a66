using System.Collections.Frozen;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace IoTMastery.Sdk;

/// <summary>
/// Runs every kind of <see cref="AlertRule"/> over a fleet's telemetry and presence, one state per device (and metric), and
/// reports only transitions, as <see cref="Alert"/>s: threshold, rate-of-change and EWMA anomaly rules on each record's
/// reading; silence (an expected device sends nothing for N) and offline for longer than N, judged by
/// <see cref="Evaluate"/> on the injected <see cref="TimeProvider"/>: records count when processed, not by the device's
/// clock, which may be wrong or replaying an outbox. Each alert is raised once per device until it clears (de-duplication);
/// health alerts are held back for their rule's cooldown after clearing. Every alert is returned and also streamed
/// (<see cref="ReadAlertsAsync"/>). Allocates nothing per record once every device is known. Thread-safe.
/// </summary>
public sealed class AlertMonitor
{
    // What makes a batch cheap: a record's device id is looked up once for all rules, and usually not hashed at all: the
    // SDK's decoder interns device ids, so the same device arrives as the same string object, and a small cache by object
    // identity (the hash the runtime keeps in the object header, not one over the characters) finds its state; metric
    // names are interned too, and found the same way; the clock is read and the lock taken once per batch.
    private const int RecentSize = 4096; // a power of two; 64 KB of references, enough for a few thousand active devices
    private const int RecentMetricSize = 64; // a power of two; metrics are few
    private static readonly MetricRules NoRules = new(null, null, -1);
    private readonly AlertRule[] _rules;
    private readonly AlertRule? _silence, _offline;
    private readonly FrozenDictionary<string, MetricRules> _metrics;
    private readonly int _slots;
    private readonly TimeProvider _time;
    private readonly int _readerCapacity;
    private readonly Dictionary<string, Device> _devices = new(StringComparer.Ordinal);
    private readonly Recent[] _recent = new Recent[RecentSize];
    private readonly RecentMetric[] _recentMetrics = new RecentMetric[RecentMetricSize];
    private readonly Lock _lock = new();
    private Channel<Alert>[] _readers = []; // replaced, never changed in place, under _lock
    private long _dropped;

    /// <summary>Creates a monitor running the given rules.</summary>
    /// <param name="rules">
    /// The rules (each already validated by its factory): at most one threshold and one rate-of-change or EWMA rule per
    /// metric, so a record has at most one transition of each to report, and at most one silence and one offline rule.
    /// </param>
    /// <param name="timeProvider">The clock for silence and offline durations; defaults to the system clock.</param>
    /// <param name="readerCapacity">Alerts one stream reader may fall behind before newer ones are dropped for it (counted).</param>
    /// <exception cref="ArgumentException">No rule is given, a rule is null, or two rules of one kind watch the same metric (or both are health rules of one kind).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="readerCapacity"/> is less than 1.</exception>
    public AlertMonitor(IEnumerable<AlertRule> rules, TimeProvider? timeProvider = null, int readerCapacity = 10_000)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentOutOfRangeException.ThrowIfLessThan(readerCapacity, 1);
        _rules = [.. rules];
        if (_rules.Length == 0)
            throw new ArgumentException("Give at least one rule; a monitor with no rule would never alert.", nameof(rules));
        var metrics = new Dictionary<string, MetricRules>(StringComparer.Ordinal);
        foreach (var rule in _rules)
        {
            ArgumentNullException.ThrowIfNull(rule, nameof(rules));
            switch (rule.Kind)
            {
                case AlertRuleKind.Silence:
                    _silence = _silence is null ? rule : throw Duplicate("silence rule", null);
                    break;
                case AlertRuleKind.Offline:
                    _offline = _offline is null ? rule : throw Duplicate("offline rule", null);
                    break;
                case AlertRuleKind.Threshold:
                    var forThreshold = metrics.GetValueOrDefault(rule.Metric!, new MetricRules(null, null, metrics.Count));
                    metrics[rule.Metric!] = forThreshold.Threshold is null ? forThreshold with { Threshold = rule } : throw Duplicate("threshold rule", rule.Metric);
                    break;
                default:
                    var forAnomaly = metrics.GetValueOrDefault(rule.Metric!, new MetricRules(null, null, metrics.Count));
                    metrics[rule.Metric!] = forAnomaly.Anomaly is null ? forAnomaly with { Anomaly = rule } : throw Duplicate("rate-of-change or anomaly rule", rule.Metric);
                    break;
            }
        }
        _metrics = metrics.ToFrozenDictionary(StringComparer.Ordinal);
        _slots = metrics.Count;
        _time = timeProvider ?? TimeProvider.System;
        _readerCapacity = readerCapacity;

        static ArgumentException Duplicate(string what, string? metric) => new(metric is null
            ? $"Only one {what} per monitor."
            : $"Only one {what} per metric; '{ErrorText.Escape(metric)}' has two.", nameof(rules));
    }

    /// <summary>The rules, in the order given, for the fleet summary.</summary>
    internal IReadOnlyList<AlertRule> Rules => _rules;

    /// <summary>Alerts dropped because a reader of <see cref="ReadAlertsAsync"/> was full.</summary>
    public long DroppedAlertCount => Interlocked.Read(ref _dropped);

    /// <summary>Marks a device as one that should report, from now, though it has sent nothing yet.</summary>
    /// <exception cref="ArgumentException">The id is empty.</exception>
    public void Expect(string deviceId)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        lock (_lock) Entry(deviceId, _time.GetUtcNow());
    }

    /// <summary>
    /// Stops watching a device (decommissioned, or deliberately quiet) and drops all its state, for every rule: a raised alert
    /// of it is dropped without a clear. If it reports again it starts afresh, as a device never seen.
    /// </summary>
    public void Forget(string deviceId)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        lock (_lock)
        {
            // The cache by object identity may still point at the removed entry.
            if (_devices.Remove(deviceId)) Array.Clear(_recent);
        }
    }

    /// <summary>
    /// Applies every rule to a batch of records (one decoded message, one read from a channel; or one record:
    /// <c>Process([record])</c>), observed at one instant of the monitor's clock, and adds each transition to
    /// <paramref name="alerts"/> (when given) in the order they happened: per record a silence cleared, then the threshold,
    /// then the rate-of-change or anomaly rule. <see cref="Alert.Rule"/> tells them apart. They are also streamed. One clock
    /// read (only when a health rule is set: reading it costs more than the metric rules) and one lock for the whole batch.
    /// </summary>
    /// <param name="records">The batch, in arrival order.</param>
    /// <param name="alerts">Receives every transition of every rule; null: only counted (and streamed).</param>
    /// <returns>How many transitions the batch caused, of all kinds.</returns>
    /// <exception cref="ArgumentException">A record is <c>default</c>; then none of the batch is applied.</exception>
    public int Process(ReadOnlySpan<TelemetryRecord> records, ICollection<Alert>? alerts = null)
    {
        foreach (ref readonly var record in records)
            if (!record.IsInitialized)
                throw new ArgumentException("A telemetry record of the batch is not initialized.", nameof(records));
        if (records.IsEmpty) return 0;
        var health = _silence is not null || _offline is not null;
        var now = health ? _time.GetUtcNow() : default;
        var transitions = 0;
        lock (_lock)
        {
            string? lastDevice = null;
            Device device = null!;
            foreach (ref readonly var record in records)
            {
                if (!ReferenceEquals(record.DeviceId, lastDevice))
                {
                    ref var recent = ref _recent[RuntimeHelpers.GetHashCode(record.DeviceId) & (RecentSize - 1)];
                    if (!ReferenceEquals(recent.DeviceId, record.DeviceId))
                        recent = new Recent(record.DeviceId, Entry(record.DeviceId, now));
                    device = recent.Device;
                    lastDevice = record.DeviceId;
                }
                if (health && Seen(device, record.DeviceId, now) is { } silence)
                    transitions += Emit(silence, alerts);
                ref var metric = ref _recentMetrics[RuntimeHelpers.GetHashCode(record.Metric) & (RecentMetricSize - 1)];
                if (!ReferenceEquals(metric.Metric, record.Metric))
                    metric = new RecentMetric(record.Metric, _metrics.GetValueOrDefault(record.Metric, NoRules));
                var rules = metric.Rules;
                if (rules.Slot < 0) continue;
                ref var slot = ref device.Slots[rules.Slot];
                if (rules.Threshold is { } threshold && Threshold(threshold, ref slot, record) is { } crossed)
                    transitions += Emit(crossed, alerts);
                if (rules.Anomaly is { } anomaly
                    && (anomaly.Kind == AlertRuleKind.RateOfChange ? Rate(anomaly, ref slot, record) : Ewma(anomaly, ref slot, record)) is { } unusual)
                    transitions += Emit(unusual, alerts);
            }
        }
        return transitions;
    }

    /// <summary>
    /// Records a presence event (from <see cref="IDeviceRegistry.ReadPresenceEventsAsync"/>) or answer (from
    /// <see cref="IDeviceRegistry.GetPresenceAsync"/> or <see cref="IDeviceRegistry.ListPresenceAsync"/>, for providers
    /// without events). A connect clears a raised offline alert (returned, and streamed), else null. Unknown connectivity
    /// (<see cref="DevicePresence.Connected"/> null) changes nothing: it is never taken as offline.
    /// </summary>
    public Alert? Observe(DevicePresence presence)
    {
        ArgumentNullException.ThrowIfNull(presence);
        if (presence.Connected is not { } connected) return null;
        return SetConnected(presence.DeviceId, connected, presence.Since ?? _time.GetUtcNow());
    }

    /// <summary>
    /// Whether <paramref name="rule"/>'s alert is raised for this device now. The rule is one given to the constructor, or
    /// any rule equal to it (rules are values; an <see cref="Alert.Rule"/> is one); false for a rule the monitor does not run.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="deviceId"/> or <paramref name="rule"/> is null.</exception>
    public bool IsRaised(string deviceId, AlertRule rule)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        ArgumentNullException.ThrowIfNull(rule);
        lock (_lock)
            return _devices.TryGetValue(deviceId, out var device) && IsRaised(device, rule);
    }

    /// <summary>The devices of <paramref name="deviceIds"/> for which <paramref name="rule"/> is raised, under one lock.</summary>
    internal List<string> Firing(AlertRule rule, IEnumerable<string> deviceIds)
    {
        var firing = new List<string>();
        lock (_lock)
        {
            foreach (var id in deviceIds)
                if (_devices.TryGetValue(id, out var device) && IsRaised(device, rule)) firing.Add(id);
        }
        return firing;
    }

    /// <summary>Checks every device against the silence and offline rules now and returns (and streams) the alerts raised.</summary>
    public IReadOnlyList<Alert> Evaluate()
    {
        if (_silence is null && _offline is null) return [];
        var now = _time.GetUtcNow();
        List<Alert>? raised = null;
        lock (_lock)
        {
            foreach (var (id, device) in _devices)
            {
                if (_offline is { } offline && device.Connected == false && !device.OfflineRaised
                    && now - device.ConnectionChangedAt > offline.After && Cooled(device.OfflineClearedAt, offline, now))
                {
                    device.OfflineRaised = true;
                    (raised ??= []).Add(Alert.ForHealth(false, offline, id, now, now - device.ConnectionChangedAt));
                }
                // A device known to be disconnected is the offline rule's; silence is news only while it may still be connected.
                if (_silence is { } silence && device.Connected != false && !device.SilenceRaised
                    && now - device.LastRecord > silence.After && Cooled(device.SilenceClearedAt, silence, now))
                {
                    device.SilenceRaised = true;
                    (raised ??= []).Add(Alert.ForHealth(false, silence, id, now, now - device.LastRecord));
                }
            }
            if (raised is null) return [];
            foreach (var alert in raised) Publish(alert);
        }
        return raised;
    }

    /// <summary>Calls <see cref="Evaluate"/> every <paramref name="interval"/> on the monitor's clock until cancelled.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The interval is not positive.</exception>
    public Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        return Loop();

        async Task Loop()
        {
            using var timer = new PeriodicTimer(interval, _time);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                Evaluate();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Streams every alert of every rule (raised and cleared), in the order they happened, from the first <c>MoveNextAsync</c> on, until cancelled.</summary>
    public async IAsyncEnumerable<Alert> ReadAlertsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateBounded<Alert>(new BoundedChannelOptions(_readerCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
        lock (_lock) _readers = [.. _readers, channel];
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                while (channel.Reader.TryRead(out var alert)) yield return alert;
        }
        finally
        {
            lock (_lock) _readers = _readers.Where(r => r != channel).ToArray();
        }
    }

    private Alert? SetConnected(string deviceId, bool connected, DateTimeOffset at)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var device = Entry(deviceId, now);
            if (device.Connected == connected) return null; // a repeated event or poll keeps the original time
            Alert? alert = null;
            if (connected && device.OfflineRaised)
            {
                device.OfflineRaised = false;
                device.OfflineClearedAt = now;
                alert = Alert.ForHealth(true, _offline!, deviceId, now, now - device.ConnectionChangedAt);
                Publish(alert);
            }
            device.Connected = connected;
            device.ConnectionChangedAt = at;
            // A reconnect restarts the silence count: the device gets the silence limit to speak again.
            if (connected && device.LastRecord < now) device.LastRecord = now;
            return alert;
        }
    }

    private static bool Cooled(DateTimeOffset? clearedAt, AlertRule rule, DateTimeOffset now) => clearedAt is not { } c || now - c >= rule.Cooldown;

    // Under _lock.
    // Under _lock. A rule equal to the monitor's (not only of the same kind) is asked about, so a caller holding a rule
    // with other limits learns that the monitor does not run it rather than reading another rule's state.
    private bool IsRaised(Device device, AlertRule rule)
    {
        switch (rule.Kind)
        {
            case AlertRuleKind.Silence: return rule.Equals(_silence) && device.SilenceRaised;
            case AlertRuleKind.Offline: return rule.Equals(_offline) && device.OfflineRaised;
        }
        if (!_metrics.TryGetValue(rule.Metric!, out var rules)) return false;
        // A metric's slot holds both its threshold state and its rate-of-change or anomaly state.
        ref var slot = ref device.Slots[rules.Slot];
        return rule.Kind == AlertRuleKind.Threshold
            ? rule.Equals(rules.Threshold) && slot.ThresholdRaised
            : rule.Equals(rules.Anomaly) && slot.AnomalyRaised;
    }

    // Under _lock: the entry of a device, created (expected from `now`) on first sight.
    private Device Entry(string deviceId, DateTimeOffset now)
    {
        if (!_devices.TryGetValue(deviceId, out var device))
            _devices[deviceId] = device = new Device(_slots == 0 ? [] : new Slot[_slots]) { LastRecord = now, ConnectionChangedAt = now };
        return device;
    }

    // Under _lock: the device reported at `now`; a raised silence alert clears.
    private Alert? Seen(Device device, string deviceId, DateTimeOffset now)
    {
        Alert? alert = null;
        if (device.SilenceRaised)
        {
            device.SilenceRaised = false;
            device.SilenceClearedAt = now;
            alert = Alert.ForHealth(true, _silence!, deviceId, now, now - device.LastRecord);
        }
        device.LastRecord = now;
        return alert;
    }

    // Under _lock: hands a transition to the caller's collection and to every stream reader; streaming under the lock keeps
    // the stream in the order the transitions happened, and costs one field read when nobody reads.
    private int Emit(Alert alert, ICollection<Alert>? alerts)
    {
        alerts?.Add(alert);
        Publish(alert);
        return 1;
    }

    // Under _lock. Wait mode with TryWrite: a full reader refuses the write, and the loss is counted instead of blocking the
    // monitor; the channels run their readers' continuations asynchronously, so no reader code runs under the lock.
    private void Publish(Alert alert)
    {
        foreach (var reader in _readers)
            if (!reader.Writer.TryWrite(alert)) Interlocked.Increment(ref _dropped);
    }

    private static Alert? Threshold(AlertRule rule, ref Slot s, in TelemetryRecord record)
    {
        if (!s.ThresholdRaised && record.Value > rule.RaiseAbove)
        {
            s.ThresholdRaised = true;
            return Alert.ForReading(false, rule, record, null);
        }
        if (s.ThresholdRaised && record.Value < rule.ClearBelow)
        {
            s.ThresholdRaised = false;
            return Alert.ForReading(true, rule, record, null);
        }
        return null;
    }

    private static Alert? Rate(AlertRule rule, ref Slot s, in TelemetryRecord record)
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
        return Transition(ref s, record, perSecond, rule);
    }

    private static Alert? Ewma(AlertRule rule, ref Slot s, in TelemetryRecord record)
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
        return Transition(ref s, record, z, rule);
    }

    private static Alert? Transition(ref Slot s, in TelemetryRecord record, double score, AlertRule rule)
    {
        if (!s.AnomalyRaised && score > rule.RaiseAbove)
        {
            s.AnomalyRaised = true;
            return Alert.ForReading(false, rule, record, score);
        }
        if (s.AnomalyRaised && score < rule.ClearBelow)
        {
            s.AnomalyRaised = false;
            return Alert.ForReading(true, rule, record, score);
        }
        return null;
    }

    /// <summary>A device id object seen lately and its entry; a different string with the same characters just misses.</summary>
    private readonly record struct Recent(string? DeviceId, Device Device);

    /// <summary>A metric name object seen lately and its rules (<see cref="NoRules"/> when it has none).</summary>
    private readonly record struct RecentMetric(string? Metric, MetricRules Rules);

    /// <summary>The rules of one metric (at most one threshold and one rate-of-change or anomaly rule) and its slot in every device's array.</summary>
    private readonly record struct MetricRules(AlertRule? Threshold, AlertRule? Anomaly, int Slot);

    /// <summary>One device's health state and its metric slots.</summary>
    private sealed class Device(Slot[] slots)
    {
        public readonly Slot[] Slots = slots;
        public DateTimeOffset LastRecord;
        public bool? Connected;
        public DateTimeOffset ConnectionChangedAt;
        public bool SilenceRaised;
        public DateTimeOffset? SilenceClearedAt;
        public bool OfflineRaised;
        public DateTimeOffset? OfflineClearedAt;
    }

    /// <summary>
    /// One device and metric's state, held by value in the device's array: one allocation per device instead of one per
    /// series, and no pointer to chase per record. The default value is a series that has seen nothing.
    /// </summary>
    private struct Slot
    {
        public bool ThresholdRaised;
        public bool AnomalyRaised;
        public bool HasLast;
        public double LastValue;
        public DateTimeOffset LastTime;
        public double Mean;
        public double Variance;
        public long Count;
    }
}
