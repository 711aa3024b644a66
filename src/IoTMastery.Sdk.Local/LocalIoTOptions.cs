namespace IoTMastery.Sdk.Local;

/// <summary>Settings of the embedded Local provider. Every default suits a laptop.</summary>
public sealed class LocalIoTOptions
{
    /// <summary>
    /// The SQLite file holding the registry, state, releases, rollouts and the CA; created if missing.
    /// <see langword="null"/> (the default) keeps everything in memory for the provider's lifetime.
    /// The file and its <c>-wal</c>/<c>-shm</c> companions are created owner-only (0600) on Linux and macOS, and the CA's
    /// private key inside is encrypted (see <see cref="CaKeyPassphrase"/>).
    /// </summary>
    public string? DatabasePath { get; set; }

    /// <summary>
    /// The environment variable read for the CA key's passphrase when neither <see cref="CaKeyPassphrase"/> nor
    /// <see cref="CaKeyFile"/> is set: <c>IOTM_LOCAL_CA_PASSPHRASE</c>.
    /// </summary>
    public const string CaKeyPassphraseEnvironmentVariable = "IOTM_LOCAL_CA_PASSPHRASE";

    /// <summary>
    /// The passphrase that encrypts the CA's private key in the database (PKCS#8, AES-256-CBC, PBKDF2-HMAC-SHA256), at
    /// least 12 characters. <see langword="null"/> (the default): <see cref="CaKeyPassphraseEnvironmentVariable"/> if set,
    /// otherwise the contents of <see cref="CaKeyFile"/>. Only with <see cref="DatabasePath"/>; an in-memory registry
    /// writes nothing. Once the CA exists, starting with a wrong or missing key throws
    /// <see cref="IoTException"/> of kind <see cref="IoTErrorKind.CertificateAuthorityKey"/> and changes nothing.
    /// </summary>
    public string? CaKeyPassphrase { get; set; }

    /// <summary>
    /// The owner-only file holding the CA key's passphrase when neither <see cref="CaKeyPassphrase"/> nor the environment
    /// variable is set. <see langword="null"/> (the default): <c>{DatabasePath}.cakey</c>. The SDK creates it (mode 0600,
    /// a random 256-bit key) with a new CA; keep it apart from copies of the database, which alone no longer reveal the key.
    /// Only with <see cref="DatabasePath"/>; not together with <see cref="CaKeyPassphrase"/>.
    /// </summary>
    public string? CaKeyFile { get; set; }

    /// <summary>
    /// The broker's TLS port on 127.0.0.1. Default 0: a free port is chosen; read it from
    /// <see cref="LocalIoTProvider.Port"/>. The broker binds loopback only, so nothing outside the machine can connect.
    /// </summary>
    public int Port { get; set; }

    /// <summary>How many telemetry records each fleet-side reader may fall behind before newly arriving records are dropped for that reader (and counted). Default 100,000. Without <see cref="TelemetryJournal"/> only.</summary>
    public int TelemetryReaderCapacity { get; set; } = 100_000;

    /// <summary>
    /// Turns on durable telemetry: where and how the broker journals the telemetry devices publish. <see langword="null"/>
    /// (the default) keeps <see cref="LocalIoTProvider.Telemetry"/> a live stream that drops records nobody reads.
    /// </summary>
    /// <remarks>
    /// <para>With a journal the broker appends every telemetry batch to an on-disk outbox in this directory
    /// <em>before</em> it sends the PUBACK, so once a device's pipeline counts a batch as delivered, a crash of this process
    /// (<c>kill -9</c> included) no longer loses it: the next <see cref="IIoTProvider.Telemetry"/> reader on the same directory
    /// gets every record not yet acknowledged, oldest first. <see cref="ITelemetryChannel.ReadAllAsync"/> then reads the journal:</para>
    /// <list type="bullet">
    /// <item><description>One reader at a time; a second concurrent enumeration throws <see cref="InvalidOperationException"/> when it starts.</description></item>
    /// <item><description>At-least-once processing: a record is acknowledged when the reader asks for the next one. The mark is
    /// written to disk at least every 256 records, so after a crash up to 256 already-processed records are delivered again, as
    /// are batches whose PUBACK the crash cut off (the device resends them). Records keep the device's
    /// <see cref="TelemetryRecord.Sequence"/> (sent when the device's durable pipeline uses
    /// <see cref="TelemetryJsonEncoder.WithSequence"/>): one (device, sequence) is one record, so a consumer can count exactly once. A resent copy can arrive after newer
    /// records of the same device; order by the sequence.</description></item>
    /// <item><description>Disk bound: <see cref="TelemetryOutboxOptions.MaxDiskBytes"/> (default 256 MiB) of records not yet
    /// acknowledged. When full, the broker refuses telemetry publishes instead of acknowledging them (MQTT 5: PUBACK
    /// <c>QuotaExceeded</c>, which device pipelines retry; MQTT 3.1.1: the connection is closed), so devices keep the records
    /// until a reader catches up. Keep the bound far above one telemetry message (a batch that alone exceeds it is refused every
    /// time). <see cref="TelemetryOutboxOptions.Overflow"/> must stay
    /// <see cref="BackpressureMode.FailFast"/>.</description></item>
    /// <item><description>Durability: every <see cref="TelemetryOutboxOptions.FsyncInterval"/> survives a process crash, since a
    /// record written to the page cache outlives the process; the default group commit (100 ms) also bounds the loss on power
    /// failure to the last interval, and <see cref="TimeSpan.Zero"/> loses nothing.</description></item>
    /// </list>
    /// <para>One process at a time may use a journal directory (its lock file enforces it).</para>
    /// </remarks>
    public TelemetryOutboxOptions? TelemetryJournal { get; set; }

    /// <summary>Checks the settings; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "Port must be 0 (pick a free port) or 1-65535.");
        if (DatabasePath is not null && string.IsNullOrWhiteSpace(DatabasePath))
            throw new ArgumentException("DatabasePath must be a file path or null for in-memory.", nameof(DatabasePath));
        if (CaKeyPassphrase is not null)
        {
            if (DatabasePath is null)
                throw new ArgumentException("CaKeyPassphrase needs DatabasePath: an in-memory registry keeps its CA in memory and writes no key.", nameof(CaKeyPassphrase));
            CertificateAuthorityKey.ValidatePassphrase(CaKeyPassphrase, nameof(CaKeyPassphrase));
            if (CaKeyFile is not null)
                throw new ArgumentException("Set CaKeyPassphrase or CaKeyFile, not both: the CA key comes from one place.", nameof(CaKeyFile));
        }
        if (CaKeyFile is not null)
        {
            if (string.IsNullOrWhiteSpace(CaKeyFile))
                throw new ArgumentException("CaKeyFile must be a file path, or null for '{DatabasePath}.cakey'.", nameof(CaKeyFile));
            if (DatabasePath is null)
                throw new ArgumentException("CaKeyFile needs DatabasePath: an in-memory registry keeps its CA in memory and writes no key.", nameof(CaKeyFile));
        }
        if (TelemetryReaderCapacity < 1)
            throw new ArgumentOutOfRangeException(nameof(TelemetryReaderCapacity), TelemetryReaderCapacity, "TelemetryReaderCapacity must be positive.");
        if (TelemetryJournal is not null) LocalTelemetryJournal.Validate(TelemetryJournal, nameof(TelemetryJournal));
    }
}
