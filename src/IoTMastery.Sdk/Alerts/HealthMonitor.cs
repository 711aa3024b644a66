using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace IoTMastery.Sdk;

/// <summary>The silence and offline rules of a <see cref="HealthMonitor"/>; at least one must be set.</summary>
public sealed record HealthRules
{
    /// <summary>Raise <see cref="AlertRuleKind.Silence"/> when an expected device sends no record for longer than this; null: off.</summary>
    public TimeSpan? SilentFor { get; init; }

    /// <summary>Raise <see cref="AlertRuleKind.Offline"/> when a device stays disconnected longer than this; null: off.</summary>
    public TimeSpan? OfflineFor { get; init; }

    /// <summary>
    /// After an alert clears, the same device and rule cannot raise again for this long: a device flapping around the limit
    /// pages once, not every time. Zero: no cooldown.
    /// </summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromMinutes(5);

    internal void Validate()
    {
        if (SilentFor is null && OfflineFor is null)
            throw new ArgumentException("Set SilentFor, OfflineFor or both; a health monitor with no rule would never alert.", nameof(HealthRules));
        if (SilentFor is { } s && s <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(SilentFor), s, "SilentFor must be positive.");
        if (OfflineFor is { } o && o <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(OfflineFor), o, "OfflineFor must be positive.");
        if (Cooldown < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(Cooldown), Cooldown, "Cooldown must not be negative.");
    }
}

/// <summary>
/// Provider-neutral health rules over the telemetry stream and presence: silence (an expected device sends nothing for N)
/// and offline for longer than N, each raised once per device until it clears (de-duplication) and held back for a cooldown
/// after clearing. Time is the injected <see cref="TimeProvider"/>'s: records count when observed, not by the device's clock,
/// which may be wrong or replaying an outbox. Alerts are returned and also streamed (<see cref="ReadAlertsAsync"/>). Thread-safe.
/// </summary>
public sealed class HealthMonitor
{
    private readonly HealthRules _rules;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, DeviceHealth> _devices = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly int _readerCapacity;
    private Channel<Alert>[] _readers = [];
    private long _dropped;
    private long _forgotten; // under _lock; tells CombinedEvaluator that a device entry it holds may be stale

    /// <summary>Creates a monitor.</summary>
    /// <param name="rules">The rules; validated here.</param>
    /// <param name="timeProvider">The clock for silence and offline durations; defaults to the system clock.</param>
    /// <param name="readerCapacity">Alerts one stream reader may fall behind before newer ones are dropped for it (counted).</param>
    /// <exception cref="ArgumentException">No rule is set, or a duration is not positive (the message names it).</exception>
    public HealthMonitor(HealthRules rules, TimeProvider? timeProvider = null, int readerCapacity = 10_000)
    {
        ArgumentNullException.ThrowIfNull(rules);
        rules.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(readerCapacity, 1);
        _rules = rules;
        _time = timeProvider ?? TimeProvider.System;
        _readerCapacity = readerCapacity;
    }

    /// <summary>The rules, for the fleet summary.</summary>
    internal HealthRules Rules => _rules;

    /// <summary>Alerts dropped because a reader of <see cref="ReadAlertsAsync"/> was full.</summary>
    public long DroppedAlertCount => Interlocked.Read(ref _dropped);

    /// <summary>Marks a device as one that should report, from now, though it has sent nothing yet.</summary>
    /// <exception cref="ArgumentException">The id is empty.</exception>
    public void Expect(string deviceId)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        lock (_lock) Entry(deviceId, _time.GetUtcNow());
    }

    /// <summary>Stops watching a device (decommissioned, or deliberately quiet); a raised alert of it is dropped without a clear.</summary>
    public void Forget(string deviceId)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        lock (_lock)
            if (_devices.Remove(deviceId)) _forgotten++;
    }

    /// <summary>
    /// Records that the device reported; the device becomes expected. Returns the silence alert's <see cref="AlertEventKind.Cleared"/>
    /// when it was raised, else null. Allocates nothing for a device already known and not alerting. Reads the clock once per
    /// call: where records come in batches, <see cref="Observe(ReadOnlySpan{TelemetryRecord})"/> is much cheaper per record.
    /// </summary>
    /// <exception cref="ArgumentException">The record is <c>default</c>.</exception>
    public Alert? Observe(in TelemetryRecord record)
    {
        if (!record.IsInitialized)
            throw new ArgumentException("The telemetry record is not initialized.", nameof(record));
        var now = _time.GetUtcNow();
        Alert? alert;
        lock (_lock) alert = Seen(record.DeviceId, now);
        if (alert is not null) Publish(alert);
        return alert;
    }

    /// <summary>
    /// Records a batch of records (one decoded message, one read from a channel) as observed at one instant: one clock read
    /// and one lock for the whole batch. Reading the clock is the dominant cost of <see cref="Observe(in TelemetryRecord)"/>
    /// (100-300 ns on a virtual machine), so this is the path for high rates. Returns the silence alerts cleared (empty, without
    /// allocating, when none); they are also streamed.
    /// </summary>
    /// <exception cref="ArgumentException">A record is <c>default</c>; then none of the batch is applied.</exception>
    public IReadOnlyList<Alert> Observe(ReadOnlySpan<TelemetryRecord> records)
    {
        foreach (ref readonly var record in records)
            if (!record.IsInitialized)
                throw new ArgumentException("A telemetry record of the batch is not initialized.", nameof(records));
        if (records.IsEmpty) return [];
        var now = _time.GetUtcNow();
        List<Alert>? cleared = null;
        lock (_lock)
        {
            foreach (ref readonly var record in records)
                if (Seen(record.DeviceId, now) is { } alert) (cleared ??= []).Add(alert);
        }
        if (cleared is null) return [];
        foreach (var alert in cleared) Publish(alert);
        return cleared;
    }

    /// <summary>The lock that guards every device entry; <see cref="CombinedEvaluator"/> holds it for a whole batch.</summary>
    internal Lock Sync => _lock;

    /// <summary>The clock the monitor stamps observations with.</summary>
    internal TimeProvider Time => _time;

    /// <summary>Under <see cref="Sync"/>: how many devices <see cref="Forget"/> has removed; entries held elsewhere are stale when it moves.</summary>
    internal long ForgottenCount => _forgotten;

    // Under _lock: the device reported at `now`; a raised silence alert clears.
    private Alert? Seen(string deviceId, DateTimeOffset now) => Seen(Entry(deviceId, now), deviceId, now);

    /// <summary>Under <see cref="Sync"/>: the entry of <paramref name="deviceId"/> (from <see cref="Entry"/>) reported at <paramref name="now"/>.</summary>
    internal static Alert? Seen(DeviceHealth device, string deviceId, DateTimeOffset now)
    {
        Alert? alert = null;
        if (device.SilenceRaised)
        {
            device.SilenceRaised = false;
            device.SilenceClearedAt = now;
            alert = Alert.ForHealth(AlertEventKind.Cleared, AlertRuleKind.Silence, deviceId, now, now - device.LastRecord);
        }
        device.LastRecord = now;
        return alert;
    }

    /// <summary>Records a connect or disconnect event; a connect clears a raised offline alert (returned), else null.</summary>
    public Alert? Observe(PresenceEvent presenceEvent)
    {
        ArgumentNullException.ThrowIfNull(presenceEvent);
        return SetConnected(presenceEvent.DeviceId, presenceEvent.Kind == PresenceEventKind.Connected, presenceEvent.Timestamp);
    }

    /// <summary>
    /// Records a presence answer (from <see cref="IPresenceService"/>, for providers without events). Unknown connectivity
    /// (<see cref="DevicePresence.Connected"/> null) changes nothing: it is never taken as offline.
    /// </summary>
    public Alert? Observe(DevicePresence presence)
    {
        ArgumentNullException.ThrowIfNull(presence);
        if (presence.Connected is not { } connected) return null;
        return SetConnected(presence.DeviceId, connected, presence.Since ?? _time.GetUtcNow());
    }

    /// <summary>Whether the alert of this device and rule is raised now.</summary>
    public bool IsRaised(string deviceId, AlertRuleKind rule)
    {
        lock (_lock)
            return _devices.TryGetValue(deviceId, out var d) && rule switch { AlertRuleKind.Silence => d.SilenceRaised, AlertRuleKind.Offline => d.OfflineRaised, _ => false };
    }

    /// <summary>Checks every device against the rules now and returns (and streams) the alerts raised.</summary>
    public IReadOnlyList<Alert> Evaluate()
    {
        var now = _time.GetUtcNow();
        List<Alert>? raised = null;
        lock (_lock)
        {
            foreach (var (id, device) in _devices)
            {
                if (_rules.OfflineFor is { } offlineFor && device.Connected == false && !device.OfflineRaised
                    && now - device.ConnectionChangedAt > offlineFor && Cooled(device.OfflineClearedAt, now))
                {
                    device.OfflineRaised = true;
                    (raised ??= []).Add(Alert.ForHealth(AlertEventKind.Raised, AlertRuleKind.Offline, id, now, now - device.ConnectionChangedAt));
                }
                // A device known to be disconnected is the offline rule's; silence is news only while it may still be connected.
                if (_rules.SilentFor is { } silentFor && device.Connected != false && !device.SilenceRaised
                    && now - device.LastRecord > silentFor && Cooled(device.SilenceClearedAt, now))
                {
                    device.SilenceRaised = true;
                    (raised ??= []).Add(Alert.ForHealth(AlertEventKind.Raised, AlertRuleKind.Silence, id, now, now - device.LastRecord));
                }
            }
        }
        if (raised is null) return [];
        foreach (var alert in raised) Publish(alert);
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

    /// <summary>Streams every alert (raised and cleared) from the first <c>MoveNextAsync</c> on, until cancelled.</summary>
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
        Alert? alert = null;
        lock (_lock)
        {
            var device = Entry(deviceId, now);
            if (device.Connected == connected) return null; // a repeated event or poll keeps the original time
            if (connected && device.OfflineRaised)
            {
                device.OfflineRaised = false;
                device.OfflineClearedAt = now;
                alert = Alert.ForHealth(AlertEventKind.Cleared, AlertRuleKind.Offline, deviceId, now, now - device.ConnectionChangedAt);
            }
            device.Connected = connected;
            device.ConnectionChangedAt = at;
            // A reconnect restarts the silence count: the device gets SilentFor to speak again.
            if (connected && device.LastRecord < now) device.LastRecord = now;
        }
        if (alert is not null) Publish(alert);
        return alert;
    }

    private bool Cooled(DateTimeOffset? clearedAt, DateTimeOffset now) => clearedAt is not { } c || now - c >= _rules.Cooldown;

    /// <summary>Under <see cref="Sync"/>: the device's entry, created (expected from <paramref name="now"/>) on first sight.</summary>
    internal DeviceHealth Entry(string deviceId, DateTimeOffset now)
    {
        if (!_devices.TryGetValue(deviceId, out var device))
            _devices[deviceId] = device = new DeviceHealth { LastRecord = now, ConnectionChangedAt = now };
        return device;
    }

    /// <summary>Streams an alert to every reader; called outside <see cref="Sync"/>.</summary>
    internal void Publish(Alert alert)
    {
        Channel<Alert>[] readers;
        lock (_lock) readers = _readers;
        // Wait mode with TryWrite: a full reader refuses the write, and the loss is counted instead of blocking the evaluator.
        foreach (var reader in readers)
            if (!reader.Writer.TryWrite(alert)) Interlocked.Increment(ref _dropped);
    }

    /// <summary>One device's silence and offline state.</summary>
    internal sealed class DeviceHealth
    {
        public DateTimeOffset LastRecord;
        public bool? Connected;
        public DateTimeOffset ConnectionChangedAt;
        public bool SilenceRaised;
        public DateTimeOffset? SilenceClearedAt;
        public bool OfflineRaised;
        public DateTimeOffset? OfflineClearedAt;
    }
}
