namespace IoTMastery.Sdk.Aws;

/// <summary>Whether a lifecycle event reports a connection or a disconnection.</summary>
internal enum DeviceLifecycleEventType
{
    /// <summary>The client connected to the message broker (<c>$aws/events/presence/connected/{clientId}</c>).</summary>
    Connected,

    /// <summary>The client disconnected from the message broker (<c>$aws/events/presence/disconnected/{clientId}</c>).</summary>
    Disconnected,
}

/// <summary>
/// One AWS IoT connect/disconnect lifecycle event (fields as in the AWS IoT Developer Guide, "Lifecycle events"; listed in the provider README). AWS may deliver these duplicated or out of
/// order: order the events of one client by <see cref="VersionNumber"/>, not by arrival.
/// </summary>
internal sealed record DeviceLifecycleEvent
{
    /// <summary>The MQTT client id; for devices of this SDK, the thing name.</summary>
    public required string ClientId { get; init; }

    /// <summary>Connected or disconnected.</summary>
    public required DeviceLifecycleEventType EventType { get; init; }

    /// <summary>When AWS IoT saw the event (the payload's <c>timestamp</c>, milliseconds since the Unix epoch).</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>Identifies one connection session; the connect and disconnect events of a session share it.</summary>
    public required string SessionIdentifier { get; init; }

    /// <summary>The credential that authenticated the client (for X.509, the certificate id).</summary>
    public required string PrincipalIdentifier { get; init; }

    /// <summary>Grows with every event of a client id; the order to trust when events arrive out of order.</summary>
    public required long VersionNumber { get; init; }

    /// <summary>The client's IP address; connect events only.</summary>
    public string? IpAddress { get; init; }

    /// <summary>True when the client itself disconnected; disconnect events only.</summary>
    public bool? ClientInitiatedDisconnect { get; init; }

    /// <summary>Why the client disconnected (e.g. <c>CLIENT_INITIATED_DISCONNECT</c>, <c>CONNECTION_LOST</c>); disconnect events only.</summary>
    public string? DisconnectReason { get; init; }
}
