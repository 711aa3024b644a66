using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// The Local provider's SQLite database: devices, credentials, device state, firmware releases,
/// rollouts and the certificate authority. Either a file (WAL journal; data survives a restart) or a
/// named shared-cache in-memory database kept alive by one connection held for the store's lifetime.
/// Each operation opens a pooled connection; writes are serialised by one lock and run in an
/// immediate transaction, so read-modify-write steps (version checks) are atomic.
/// </summary>
/// <remarks>
/// Security: the file and its <c>-wal</c>/<c>-shm</c> companions are owner-only (0600). The CA's private key is kept
/// encrypted with a <see cref="CertificateAuthorityKey"/>, so that a restart with the same file and key keeps the CA
/// while the file alone does not give the key away. An in-memory store keeps it in memory only.
/// </remarks>
internal sealed partial class LocalStore : IDisposable
{
    private const string Provider = "Local";

    // One entry per schema version; never edit a shipped entry, append a new one.
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE devices (
            id          TEXT    NOT NULL PRIMARY KEY,
            status      TEXT    NOT NULL,
            attributes  TEXT    NOT NULL,
            version     INTEGER NOT NULL,
            created_at  INTEGER NOT NULL
        );
        CREATE TABLE credentials (
            id          TEXT    NOT NULL PRIMARY KEY,
            device_id   TEXT    NOT NULL,
            kind        TEXT    NOT NULL,
            status      TEXT    NOT NULL,
            not_before  INTEGER NOT NULL,
            not_after   INTEGER NOT NULL
        );
        CREATE INDEX credentials_device ON credentials (device_id);
        CREATE TABLE device_state (
            device_id        TEXT    NOT NULL PRIMARY KEY,
            desired          TEXT    NOT NULL,
            desired_version  INTEGER NOT NULL,
            reported         TEXT    NOT NULL,
            reported_version INTEGER NOT NULL
        );
        CREATE TABLE firmware_releases (
            version     TEXT    NOT NULL PRIMARY KEY,
            uri         TEXT    NOT NULL,
            sha256      TEXT    NOT NULL,
            size        INTEGER NOT NULL,
            created_at  INTEGER NOT NULL
        );
        CREATE TABLE rollouts (
            id            TEXT    NOT NULL PRIMARY KEY,
            plan          TEXT    NOT NULL,
            status        TEXT    NOT NULL,
            current_wave  INTEGER NOT NULL,
            wave_count    INTEGER NOT NULL,
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL,
            reason        TEXT
        );
        CREATE TABLE rollout_devices (
            rollout_id        TEXT    NOT NULL,
            position          INTEGER NOT NULL,
            device_id         TEXT    NOT NULL,
            wave              INTEGER NOT NULL,
            status            TEXT    NOT NULL,
            previous_version  TEXT,
            started_at        INTEGER,
            updated_at        INTEGER NOT NULL,
            error             TEXT,
            PRIMARY KEY (rollout_id, position)
        );
        CREATE INDEX rollout_devices_device ON rollout_devices (device_id, status);
        CREATE TABLE certificate_authority (
            id               INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
            certificate_pem  TEXT    NOT NULL,
            private_key_pem  TEXT    NOT NULL
        );
        """,
        // 2: the operator's signature over each release manifest (base64 DER ECDSA P-256); NULL for unsigned releases.
        """
        ALTER TABLE firmware_releases ADD COLUMN signature TEXT;
        """,
        // 3: devices held to firmware-update traffic until they report the minimum version (the minimum-version policy's restrict mode).
        """
        CREATE TABLE firmware_restrictions (
            device_id        TEXT NOT NULL PRIMARY KEY,
            minimum_version  TEXT NOT NULL
        );
        """,
    ];

    private readonly string _connectionString;
    private readonly SqliteConnection? _keepAlive;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CertificateAuthorityKey? _caKey;
    private readonly ILogger _logger;
    private volatile bool _disposed;

    private LocalStore(string connectionString, SqliteConnection? keepAlive, string? filePath, CertificateAuthorityKey? caKey = null, ILogger? logger = null)
    {
        _connectionString = connectionString;
        _keepAlive = keepAlive;
        FilePath = filePath;
        _caKey = caKey;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>How to open the database; the firmware store keeps its tables here.</summary>
    internal string ConnectionString => _connectionString;

    /// <summary>The database file, or <see langword="null"/> for an in-memory store.</summary>
    public string? FilePath { get; }

    /// <summary>The schema version this code writes.</summary>
    public static int SchemaVersion => Migrations.Length;

    /// <summary>
    /// Opens (creating it and its folder if needed, owner-only) a database file in WAL mode and brings its schema up to
    /// date. An existing file, <c>-wal</c> or <c>-shm</c> that others can read is made owner-only, with a warning.
    /// </summary>
    /// <param name="path">The database file.</param>
    /// <param name="caKey">The key for the CA's private key; defaults to the key file <c>{path}.cakey</c>.</param>
    /// <param name="logger">Receives the warnings about tightened modes and a re-encrypted CA.</param>
    public static LocalStore OpenFile(string path, CertificateAuthorityKey? caKey = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        logger ??= NullLogger.Instance;
        var connectionString = SqliteDatabase.PrepareOwnerOnlyFile(full, logger);
        var store = new LocalStore(connectionString, null, full, caKey ?? CertificateAuthorityKey.FromFile(full + ".cakey", logger), logger);
        try
        {
            using var connection = store.Open();
            SqliteDatabase.UseWal(connection);
            Migrate(connection);
        }
        catch
        {
            store.Dispose();
            throw;
        }
        return store;
    }

    /// <summary>Opens a private in-memory database; it lives until the store is disposed.</summary>
    /// <param name="name">The shared-cache name; defaults to a fresh unique name so stores never share data by accident.</param>
    public static LocalStore OpenInMemory(string? name = null)
    {
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = "iotmastery-" + (name ?? Guid.NewGuid().ToString("N")),
            Mode = SqliteOpenMode.Memory,
            Cache = SqliteCacheMode.Shared,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        // The database exists only while a connection to it is open; this one keeps it alive.
        var keepAlive = new SqliteConnection(connectionString);
        keepAlive.Open();
        var store = new LocalStore(connectionString, keepAlive, null);
        try
        {
            Migrate(keepAlive);
        }
        catch
        {
            store.Dispose();
            throw;
        }
        return store;
    }

    /// <summary>Runs a read on its own connection.</summary>
    public async Task<T> ReadAsync<T>(Func<SqliteConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await using var connection = Open();
        return await read(connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a read-modify-write in an immediate transaction, one writer at a time; commits when <paramref name="write"/> returns.</summary>
    public Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, CancellationToken, Task<T>> write, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        return SqliteDatabase.WriteAsync(_writeLock, Open, write, cancellationToken);
    }

    /// <summary>
    /// Loads the CA saved in the database, or creates one and saves it. In a file the private key is saved encrypted with
    /// the store's <see cref="CertificateAuthorityKey"/>; a plaintext key left by an older version is re-encrypted here.
    /// </summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.CertificateAuthorityKey"/>: A CA is saved but its key is missing or wrong; nothing is changed.</exception>
    public async Task<LocalCertificateAuthority> LoadOrCreateCertificateAuthorityAsync(TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        var (ca, reEncrypted) = await WriteAsync(async (connection, transaction, ct) =>
        {
            await using (var select = Command(connection, transaction, "SELECT certificate_pem, private_key_pem FROM certificate_authority WHERE id = 1"))
            await using (var reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                if (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var (certificatePem, keyPem) = (reader.GetString(0), reader.GetString(1));
                    if (_caKey is null || !CertificateAuthorityKey.IsPlaintext(keyPem))
                        return (_caKey?.Unseal(certificatePem, keyPem, timeProvider) ?? LocalCertificateAuthority.FromPem(certificatePem, keyPem, timeProvider), false);
                    await reader.DisposeAsync().ConfigureAwait(false);
                    var legacy = LocalCertificateAuthority.FromPem(certificatePem, keyPem, timeProvider);
                    try
                    {
                        // secure_delete overwrites the bytes the plaintext key occupied instead of only unlinking them.
                        await ExecuteAsync(connection, transaction, "PRAGMA secure_delete = ON", ct).ConfigureAwait(false);
                        await ExecuteAsync(connection, transaction, "UPDATE certificate_authority SET private_key_pem = $key WHERE id = 1", ct,
                            ("$key", _caKey.Seal(legacy))).ConfigureAwait(false);
                    }
                    catch
                    {
                        legacy.Dispose();
                        throw;
                    }
                    return (legacy, true);
                }
            }
            var created = LocalCertificateAuthority.Create(timeProvider: timeProvider);
            try
            {
                var (certificate, privateKey) = _caKey is null ? created.ExportCertificateAndKeyPem() : (created.CertificatePem, _caKey.Seal(created));
                await ExecuteAsync(connection, transaction, "INSERT INTO certificate_authority (id, certificate_pem, private_key_pem) VALUES (1, $cert, $key)", ct,
                    ("$cert", certificate), ("$key", privateKey)).ConfigureAwait(false);
            }
            catch
            {
                created.Dispose();
                throw;
            }
            return (created, false);
        }, cancellationToken).ConfigureAwait(false);
        if (reEncrypted)
            ScrubWal();
        return ca;
    }

    // Copies the re-encrypted page over the old one in the main file and empties the WAL, whose frames could still hold the plaintext key.
    private void ScrubWal()
    {
        using var connection = Open();
        using var checkpoint = Command(connection, null, "PRAGMA wal_checkpoint(TRUNCATE)");
        using var result = checkpoint.ExecuteReader();
        var complete = result.Read() && result.GetInt64(0) == 0;
        if (complete) Log.KeyReencrypted(_logger, FilePath);
        else Log.KeyReencryptedWalBusy(_logger, FilePath);
    }

    /// <summary>Creates a parameterised command.</summary>
    public static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters) =>
        SqliteDatabase.Command(connection, transaction, sql, parameters);

    /// <summary>Runs a parameterised statement and returns the rows changed.</summary>
    public static Task<int> ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters) =>
        SqliteDatabase.ExecuteAsync(connection, transaction, sql, cancellationToken, parameters);

    /// <summary>Times are stored as UTC ticks, which round-trip exactly and sort correctly.</summary>
    public static long ToDb(DateTimeOffset value) => SqliteDatabase.ToDb(value);

    /// <summary>Reads a time stored by <see cref="ToDb"/>.</summary>
    public static DateTimeOffset FromDb(long ticks) => SqliteDatabase.FromDb(ticks);

    /// <summary>Throws <see cref="IoTErrorKind.DeviceNotFound"/> unless the device exists.</summary>
    public static async Task EnsureDeviceExistsAsync(SqliteConnection connection, SqliteTransaction? transaction, string deviceId, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, "SELECT 1 FROM devices WHERE id = $id", ("$id", deviceId));
        if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is null)
            throw IoTException.DeviceNotFound(deviceId, Provider);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _keepAlive?.Dispose();
        // Release pooled handles so the file can be reopened or deleted at once.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    private SqliteConnection Open()
    {
        ThrowIfDisposed();
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private static void Migrate(SqliteConnection connection) => SqliteDatabase.Migrate(connection, "schema_version", Migrations, "database");

    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters) =>
        SqliteDatabase.Execute(connection, transaction, sql, parameters);

    /// <summary>Describes the store without its contents.</summary>
    public override string ToString() => FilePath is null ? "LocalStore { in-memory }" : $"LocalStore {{ File = {FilePath} }}";
}
