namespace IoTMastery.Sdk.Local;

/// <summary>Settings of the embedded Local provider. Every default suits a laptop.</summary>
public sealed class LocalIoTOptions
{
    /// <summary>
    /// The SQLite file holding the registry, state, releases, rollouts and the CA; created if missing.
    /// <see langword="null"/> (the default) keeps everything in memory for the provider's lifetime.
    /// The file holds the CA's private key unencrypted: protect it like a key file.
    /// </summary>
    public string? DatabasePath { get; set; }

    /// <summary>
    /// The broker's TLS port on 127.0.0.1. Default 0: a free port is chosen; read it from
    /// <see cref="LocalIoTProvider.Port"/>. The broker binds loopback only, so nothing outside the machine can connect.
    /// </summary>
    public int Port { get; set; }

    /// <summary>How many telemetry records each fleet-side reader may fall behind before the oldest are dropped (and counted). Default 100,000.</summary>
    public int TelemetryReaderCapacity { get; set; } = 100_000;

    /// <summary>Checks the settings; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "Port must be 0 (pick a free port) or 1-65535.");
        if (DatabasePath is not null && string.IsNullOrWhiteSpace(DatabasePath))
            throw new ArgumentException("DatabasePath must be a file path or null for in-memory.", nameof(DatabasePath));
        if (TelemetryReaderCapacity < 1)
            throw new ArgumentOutOfRangeException(nameof(TelemetryReaderCapacity), TelemetryReaderCapacity, "TelemetryReaderCapacity must be positive.");
    }
}
