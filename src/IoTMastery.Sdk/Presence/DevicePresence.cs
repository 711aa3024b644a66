namespace IoTMastery.Sdk;

/// <summary>
/// One device's connectivity as the provider knows it: the answer of <see cref="IDeviceRegistry.GetPresenceAsync"/> and
/// <see cref="IDeviceRegistry.ListPresenceAsync"/>, and each item of <see cref="IDeviceRegistry.ReadPresenceEventsAsync"/>.
/// An event is the device's state as of the change it reports: <see cref="Connected"/> is never null there, <see cref="Since"/>
/// is when the provider saw the change, and the fields an event does not carry (the error fields, <see cref="MaxStaleness"/>)
/// are null. One type for both, so a consumer (an <see cref="AlertMonitor"/>, a dashboard) treats a push and a poll alike.
/// </summary>
public sealed record DevicePresence
{
    /// <summary>The device.</summary>
    public required string DeviceId { get; init; }

    /// <summary>
    /// True or false when the provider knows; <see langword="null"/> when it cannot tell: the cloud keeps no connection state
    /// (GCP-style), or no event about the device was seen since the provider started (AWS without fleet indexing).
    /// </summary>
    public bool? Connected { get; init; }

    /// <summary>When <see cref="Connected"/> last changed, when known; on an event, when the provider saw the change.</summary>
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
