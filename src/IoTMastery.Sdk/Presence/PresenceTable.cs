using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace IoTMastery.Sdk;

/// <summary>
/// Presence kept in memory from what a provider observes (the Local broker's sessions, AWS lifecycle events), fanned out to
/// event readers. Shared by every provider that sees connects and disconnects itself, so ordering and de-duplication live once.
/// </summary>
internal sealed class PresenceTable
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _readersLock = new();
    private readonly TimeProvider _time;
    private readonly int _readerCapacity;
    private Channel<DevicePresence>[] _readers = [];
    private long _dropped;

    /// <param name="time">Stamps observations that carry no time of their own.</param>
    /// <param name="readerCapacity">Events one reader may fall behind before its newest ones are dropped.</param>
    public PresenceTable(TimeProvider time, int readerCapacity = 10_000)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(readerCapacity, 1);
        _time = time;
        _readerCapacity = readerCapacity;
    }

    /// <summary>Events dropped because a reader was full.</summary>
    public long DroppedEventCount => Interlocked.Read(ref _dropped);

    /// <summary>Devices with an entry.</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// Records a connect or disconnect. With a <paramref name="version"/> (AWS <c>versionNumber</c>) or a <paramref name="sequence"/>
    /// (IoT Hub's <c>sequenceNumber</c>, digits of equal width compared as numbers), an event not newer than the last one applied
    /// for the device is a duplicate or out of order and is ignored; false then, and no event is published.
    /// </summary>
    public bool Observe(string deviceId, bool connected, DateTimeOffset? at = null, string? reason = null, long? version = null, string? sequence = null)
    {
        var when = at ?? _time.GetUtcNow();
        var entry = _entries.GetOrAdd(deviceId, static _ => new Entry());
        DevicePresence change;
        lock (entry)
        {
            if (version is { } v)
            {
                if (entry.Version is { } last && v <= last) return false;
                entry.Version = v;
            }
            if (sequence is not null)
            {
                if (entry.Sequence is { } last && CompareSequence(sequence, last) <= 0) return false;
                entry.Sequence = sequence;
            }
            entry.Connected = connected;
            entry.Since = when;
            entry.Reason = connected ? null : reason;
            // A CONNECT is the device speaking; a disconnect (often the broker noticing silence) is not.
            if (connected && (entry.LastActivity is null || entry.LastActivity < when)) entry.LastActivity = when;
            // The event is the device's state as of this change; taken under the lock so it matches what Get answers.
            change = new DevicePresence { DeviceId = deviceId, Connected = connected, Since = when, LastActivity = entry.LastActivity, DisconnectReason = entry.Reason };
        }
        Publish(change);
        return true;
    }

    // A longer digit string is the larger number; equal lengths compare digit by digit (hex digits in one case).
    private static int CompareSequence(string a, string b) =>
        a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.Compare(a, b, StringComparison.OrdinalIgnoreCase);

    /// <summary>Records that the device was heard from (a publish); never moves the time backwards.</summary>
    public void Activity(string deviceId, DateTimeOffset? at = null)
    {
        var when = at ?? _time.GetUtcNow();
        var entry = _entries.GetOrAdd(deviceId, static _ => new Entry());
        lock (entry)
            if (entry.LastActivity is null || entry.LastActivity < when) entry.LastActivity = when;
    }

    /// <summary>Forgets a device (deleted from the registry).</summary>
    public void Remove(string deviceId) => _entries.TryRemove(deviceId, out _);

    /// <summary>The device's presence; <see cref="DevicePresence.Connected"/> is <paramref name="unknown"/> when nothing was observed.</summary>
    public DevicePresence Get(string deviceId, bool? unknown, TimeSpan? staleness)
    {
        if (!_entries.TryGetValue(deviceId, out var entry))
            return new DevicePresence { DeviceId = deviceId, Connected = unknown, MaxStaleness = staleness };
        lock (entry)
        {
            return new DevicePresence
            {
                DeviceId = deviceId,
                Connected = entry.Connected ?? unknown,
                Since = entry.Since,
                LastActivity = entry.LastActivity,
                DisconnectReason = entry.Reason,
                MaxStaleness = staleness,
            };
        }
    }

    /// <summary>Streams events from the first <c>MoveNextAsync</c> on; a full reader drops the newest and counts it.</summary>
    public async IAsyncEnumerable<DevicePresence> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<DevicePresence>(new BoundedChannelOptions(_readerCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
        lock (_readersLock) _readers = [.. _readers, channel];
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                while (channel.Reader.TryRead(out var presenceEvent)) yield return presenceEvent;
        }
        finally
        {
            lock (_readersLock) _readers = _readers.Where(r => r != channel).ToArray();
        }
    }

    private void Publish(DevicePresence presenceEvent)
    {
        // Wait mode with TryWrite: a full channel refuses the write, so the drop is counted rather than silent.
        foreach (var reader in Volatile.Read(ref _readers))
            if (!reader.Writer.TryWrite(presenceEvent)) Interlocked.Increment(ref _dropped);
    }

    private sealed class Entry
    {
        public bool? Connected;
        public DateTimeOffset? Since;
        public DateTimeOffset? LastActivity;
        public string? Reason;
        public long? Version;
        public string? Sequence;
    }
}

/// <summary>
/// Presence for providers that observe sessions themselves: the registry decides which devices exist (and pages them), the
/// <see cref="PresenceTable"/> says how they are. The registry passes itself in, so the two never hold each other.
/// </summary>
internal sealed class ObservedPresence(DeviceIdRules rules, PresenceTable table, Func<bool> eventsAvailable, string noEventsMessage,
    bool? unknown, TimeSpan? staleness)
{
    public long DroppedEventCount => table.DroppedEventCount;

    public async Task<DevicePresence> GetAsync(IDeviceRegistry registry, string deviceId, CancellationToken cancellationToken)
    {
        rules.Validate(deviceId);
        // The registry answers "no such device" with IoTErrorKind.DeviceNotFound, as every other neutral call does.
        await registry.GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return table.Get(deviceId, unknown, staleness);
    }

    // The registry's pages, mapped: its tokens resume a presence listing as they resume a device listing.
    public IoTPageable<DevicePresence> ListAsync(IDeviceRegistry registry, DeviceQuery? query, CancellationToken cancellationToken) =>
        new MappedPageable<Device, DevicePresence>(registry.ListAsync(query, cancellationToken), d => table.Get(d.Id, unknown, staleness));

    public IAsyncEnumerable<DevicePresence> ReadEventsAsync(CancellationToken cancellationToken)
    {
        if (!eventsAvailable()) throw new NotSupportedException(noEventsMessage);
        return table.ReadAsync(cancellationToken);
    }
}
