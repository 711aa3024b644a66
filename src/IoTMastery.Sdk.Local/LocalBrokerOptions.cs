namespace IoTMastery.Sdk.Local;

/// <summary>Settings of the embedded broker.</summary>
internal sealed record LocalBrokerOptions
{
    /// <summary>The TLS port on 127.0.0.1; 0 picks a free port (read it from <see cref="LocalBroker.Port"/>). Default 0.</summary>
    public int Port { get; init; }

    /// <summary>How long the broker's server certificate is valid; it is reissued on every start. Default 30 days.</summary>
    public TimeSpan ServerCertificateValidity { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Messages queued per client before the oldest is dropped. Default 10,000.</summary>
    public int MaxPendingMessagesPerClient { get; init; } = 10_000;

    /// <summary>
    /// Connections the broker admits at once, each from the start of its TLS handshake to the answer to its CONNECT; further
    /// connections wait their turn in arrival order. Default: four per processor, enough to keep every core busy while some
    /// wait on a round trip, few enough that each one finishes quickly instead of all of them finishing late (sixteen per
    /// processor connected 2,000 devices no faster and let subscriptions time out).
    /// </summary>
    public int MaxConcurrentHandshakes { get; init; } = Math.Max(4, Environment.ProcessorCount * 4);

    /// <summary>Accepted connections allowed to wait for a handshake slot (and the listen backlog); beyond it a connection is closed at once. Default 4,096.</summary>
    public int MaxPendingConnections { get; init; } = 4096;

    /// <summary>
    /// How long a connection may wait for a slot before it is closed unhandshaken (its client retries after a jittered delay).
    /// Default 8 s: inside the device's default 10 s connect timeout, so a client admitted last still has 2 s for a handshake
    /// and CONNECT that, a few at a time, take milliseconds; while every refusal costs the client a new connection and ClientHello,
    /// so the longer a connection may queue the less work the crowd wastes.
    /// </summary>
    public TimeSpan AdmissionTimeout { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How long a TLS handshake may take once admitted; a stalled peer is cut then. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Checks the settings; throws an <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "Port must be between 0 and 65535.");
        if (ServerCertificateValidity < TimeSpan.FromHours(1))
            throw new ArgumentOutOfRangeException(nameof(ServerCertificateValidity), ServerCertificateValidity, "ServerCertificateValidity must be at least one hour.");
        if (MaxPendingMessagesPerClient < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxPendingMessagesPerClient), MaxPendingMessagesPerClient, "MaxPendingMessagesPerClient must be positive.");
        if (MaxConcurrentHandshakes < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxConcurrentHandshakes), MaxConcurrentHandshakes, "MaxConcurrentHandshakes must be positive.");
        if (MaxPendingConnections < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxPendingConnections), MaxPendingConnections, "MaxPendingConnections must be positive.");
        if (AdmissionTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(AdmissionTimeout), AdmissionTimeout, "AdmissionTimeout must be positive.");
        if (HandshakeTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), HandshakeTimeout, "HandshakeTimeout must be positive.");
    }
}
