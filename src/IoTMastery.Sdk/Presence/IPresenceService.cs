namespace IoTMastery.Sdk;

/// <summary>
/// Device connectivity seen from the fleet side: whether each device is connected, since when, and when it was last heard
/// from. What a cloud cannot give is a <see cref="ProviderCapabilities"/> flag (<see cref="ProviderCapabilities.PresenceConnectionState"/>,
/// <see cref="ProviderCapabilities.PresenceEvents"/>), and every answer says how stale it may be (<see cref="DevicePresence.MaxStaleness"/>).
/// </summary>
public interface IPresenceService
{
    /// <summary>One device's presence now.</summary>
    /// <exception cref="ArgumentException">The id breaks the provider's <see cref="DeviceIdRules"/>.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: No such device.</exception>
    Task<DevicePresence> GetAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The fleet's presence, in the registry's order and with its filters and page size: <c>await foreach</c> for every
    /// device, or <see cref="IoTPageable{T}.AsPages"/> for pages and a continuation token to resume from.
    /// </summary>
    /// <exception cref="ArgumentException">The query is invalid (page size outside 1-1000, a value without a name); thrown by this call.</exception>
    IoTPageable<DevicePresence> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Connect and disconnect events of every device as they happen, from the moment of the first <c>MoveNextAsync</c>, until
    /// cancelled. A slow reader loses events rather than holding the provider up (counted in <see cref="DroppedEventCount"/>).
    /// </summary>
    /// <exception cref="NotSupportedException">The provider has no push stream (<see cref="ProviderCapabilities.PresenceEvents"/> is false).</exception>
    IAsyncEnumerable<PresenceEvent> ReadEventsAsync(CancellationToken cancellationToken = default);

    /// <summary>Events dropped because a reader of <see cref="ReadEventsAsync"/> fell more than its buffer behind.</summary>
    long DroppedEventCount { get; }
}

/// <summary>One device's connectivity as the provider knows it.</summary>
public sealed record DevicePresence
{
    /// <summary>The device.</summary>
    public required string DeviceId { get; init; }

    /// <summary>
    /// True or false when the provider knows; <see langword="null"/> when it cannot tell: the cloud keeps no connection state
    /// (GCP-style), or no event about the device was seen since the provider started (AWS without fleet indexing).
    /// </summary>
    public bool? Connected { get; init; }

    /// <summary>When <see cref="Connected"/> last changed, when known.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>The last time the device was heard from (a publish, a state report or a keep-alive, per provider), when known.</summary>
    public DateTimeOffset? LastActivity { get; init; }

    /// <summary>Why the device last disconnected, when the cloud says (e.g. AWS <c>CONNECTION_LOST</c>, Local <c>NotClean</c>).</summary>
    public string? DisconnectReason { get; init; }

    /// <summary>The last time the cloud recorded an error for the device (GCP-style <c>lastErrorTime</c>), when known.</summary>
    public DateTimeOffset? LastErrorTime { get; init; }

    /// <summary>The cloud's description of that error (GCP-style <c>lastErrorStatus.message</c>), when known.</summary>
    public string? LastError { get; init; }

    /// <summary>
    /// How far behind the device's real state this answer may be: <see cref="TimeSpan.Zero"/> when exact (the provider is the
    /// broker), <see langword="null"/> when the cloud states no bound (its fields are written asynchronously).
    /// </summary>
    public TimeSpan? MaxStaleness { get; init; }
}

/// <summary>A device connected or disconnected.</summary>
/// <param name="DeviceId">The device.</param>
/// <param name="Connected">True when the device opened a session, false when its last session ended (as <see cref="DevicePresence.Connected"/>).</param>
/// <param name="Timestamp">When the provider saw it.</param>
/// <param name="Reason">Why a device disconnected, when the provider says; <see langword="null"/> otherwise.</param>
public sealed record PresenceEvent(string DeviceId, bool Connected, DateTimeOffset Timestamp, string? Reason);
