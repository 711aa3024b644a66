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

    /// <summary>Checks the settings; throws an <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "Port must be between 0 and 65535.");
        if (ServerCertificateValidity < TimeSpan.FromHours(1))
            throw new ArgumentOutOfRangeException(nameof(ServerCertificateValidity), ServerCertificateValidity, "ServerCertificateValidity must be at least one hour.");
        if (MaxPendingMessagesPerClient < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxPendingMessagesPerClient), MaxPendingMessagesPerClient, "MaxPendingMessagesPerClient must be positive.");
    }
}
