using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Providers;

/// <summary>
/// The default <see cref="IFirmwareStore"/>: a SQLite file (WAL journal, owner-only like its <c>-wal</c>/<c>-shm</c>
/// companions) that several processes on one machine can share. Updates run in immediate transactions and are guarded
/// by the rollout's revision. The schema is versioned in the table <c>firmware_schema_version</c>; the Local provider
/// keeps these tables in its own database, and older Local databases are brought up to date in place.
/// </summary>
internal sealed partial class SqliteFirmwareStore : IFirmwareStore, IAdvisoryStore, IDisposable
{
    private const string StoreName = "SqliteFirmwareStore";

    // One entry per schema version; never edit a shipped entry, append a new one. Version 1 is, on purpose, the firmware
    // part of the Local provider's first schema (LocalStore.Migrations[0] and [1], which stay as shipped): IF NOT EXISTS
    // leaves a Local database written before this store existed, tables and data, as it is.
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE IF NOT EXISTS firmware_releases (
            version     TEXT    NOT NULL PRIMARY KEY,
            uri         TEXT    NOT NULL,
            sha256      TEXT    NOT NULL,
            size        INTEGER NOT NULL,
            created_at  INTEGER NOT NULL,
            signature   TEXT
        );
        CREATE TABLE IF NOT EXISTS rollouts (
            id            TEXT    NOT NULL PRIMARY KEY,
            plan          TEXT    NOT NULL,
            status        TEXT    NOT NULL,
            current_wave  INTEGER NOT NULL,
            wave_count    INTEGER NOT NULL,
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL,
            reason        TEXT
        );
        CREATE TABLE IF NOT EXISTS rollout_devices (
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
        CREATE INDEX IF NOT EXISTS rollout_devices_device ON rollout_devices (device_id, status);
        """,
        // 2: crash safety. The revision guards compare-and-swap updates; pending_actions holds the decided, unperformed actions.
        """
        ALTER TABLE rollouts ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE rollouts ADD COLUMN pending_actions TEXT;
        """,
        // 3: security patching. A release's channel; rows written before it are the stable channel they were rolled out as.
        """
        ALTER TABLE firmware_releases ADD COLUMN channel TEXT NOT NULL DEFAULT 'stable';
        """,
        // 4: vulnerability advisories (IAdvisoryStore); the record is this store's JSON form of FirmwareAdvisory.
        """
        CREATE TABLE IF NOT EXISTS advisories (
            id           TEXT    NOT NULL PRIMARY KEY,
            modified     INTEGER NOT NULL,
            imported_at  INTEGER NOT NULL,
            record       TEXT    NOT NULL
        );
        """,
    ];

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private volatile bool _disposed;

    /// <summary>Opens (creating it and its folder, owner-only) the store file and brings its schema up to date.</summary>
    /// <param name="path">The SQLite file.</param>
    /// <param name="logger">Receives a warning when an existing file was readable by others and is made owner-only.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or blank.</exception>
    /// <exception cref="InvalidOperationException">The file has a newer schema than this library.</exception>
    public SqliteFirmwareStore(string path, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        logger ??= NullLogger.Instance;
        FilePath = full;
        _connectionString = SqliteDatabase.PrepareOwnerOnlyFile(full, logger);
        using var connection = Open();
        SqliteDatabase.UseWal(connection);
        Migrate(connection);
    }

    private SqliteFirmwareStore(string connectionString)
    {
        _connectionString = connectionString;
        using var connection = Open();
        Migrate(connection);
    }

    /// <summary>The store's file, or <see langword="null"/> when it lives in another component's database.</summary>
    public string? FilePath { get; }

    /// <summary>A store on a database another component opened and owns (the Local provider's, possibly in memory).</summary>
    internal static SqliteFirmwareStore OnDatabase(string connectionString) => new(connectionString);

    /// <inheritdoc />
    public async Task<FirmwareRelease> AddReleaseIfAbsentAsync(FirmwareRelease release, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        release.Validate();
        return await WriteAsync(async (c, tx, ct) =>
        {
            if (await ReadReleaseAsync(c, tx, release.Version, ct).ConfigureAwait(false) is { } existing)
                return existing;
            await ExecuteAsync(c, tx,
                "INSERT INTO firmware_releases (version, uri, sha256, size, created_at, signature, channel) VALUES ($v, $uri, $sha, $size, $at, $sig, $channel)", ct,
                ("$v", release.Version), ("$uri", release.Uri.AbsoluteUri), ("$sha", release.Sha256), ("$size", release.SizeBytes),
                ("$at", release.CreatedAt.UtcTicks), ("$sig", release.Signature), ("$channel", release.Channel)).ConfigureAwait(false);
            return release;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<FirmwareRelease?> GetReleaseAsync(string version, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        await using var c = Open();
        return await ReadReleaseAsync(c, null, version, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<FirmwareRelease> ListReleasesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = new List<FirmwareRelease>();
        await using (var c = Open())
        await using (var command = Command(c, null, "SELECT version, uri, sha256, size, created_at, signature, channel FROM firmware_releases ORDER BY created_at DESC, rowid DESC"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                list.Add(ReadReleaseRow(reader));
        }
        foreach (var release in list)
            yield return release;
    }

    /// <inheritdoc />
    public async Task<(IReadOnlyList<FirmwareRelease> Items, string? NextCursor)> ListReleasesPageAsync(string? afterVersion, int pageSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        var list = new List<FirmwareRelease>(pageSize + 1);
        // Keyset paging on the listing order (created_at, rowid), found from the last version: a release added or read
        // between pages neither repeats nor skips one. An unknown version (releases are never deleted) ends the listing.
        await using (var c = Open())
        await using (var command = Command(c, null,
            """
            SELECT version, uri, sha256, size, created_at, signature, channel FROM firmware_releases
            WHERE $after IS NULL OR (created_at, rowid) < (SELECT created_at, rowid FROM firmware_releases WHERE version = $after)
            ORDER BY created_at DESC, rowid DESC LIMIT $limit
            """, ("$after", afterVersion), ("$limit", pageSize + 1)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                list.Add(ReadReleaseRow(reader));
        }
        // One row more than the page tells whether another page exists without a COUNT.
        var more = list.Count > pageSize;
        if (more) list.RemoveAt(pageSize);
        return (list, more ? list[^1].Version : null);
    }

    /// <inheritdoc />
    public async Task<(IReadOnlyList<Rollout> Items, string? NextCursor)> ListRolloutsPageAsync(string? afterRolloutId, RolloutStatus? status, int pageSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        var ids = new List<string>(pageSize + 1);
        await using var c = Open();
        await using (var command = Command(c, null,
            """
            SELECT id FROM rollouts
            WHERE ($status IS NULL OR status = $status)
              AND ($after IS NULL OR (created_at, rowid) < (SELECT created_at, rowid FROM rollouts WHERE id = $after))
            ORDER BY created_at DESC, rowid DESC LIMIT $limit
            """, ("$status", status?.ToString()), ("$after", afterRolloutId), ("$limit", pageSize + 1)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                ids.Add(reader.GetString(0));
        }
        var more = ids.Count > pageSize;
        if (more) ids.RemoveAt(pageSize);
        var rollouts = new List<Rollout>(ids.Count);
        foreach (var id in ids)
        {
            // One read transaction per rollout, as GetRolloutAsync: its row and its devices are one consistent snapshot.
            await using var tx = c.BeginTransaction(deferred: true);
            if (await ReadRolloutAsync(c, tx, id, cancellationToken).ConfigureAwait(false) is { } stored)
                rollouts.Add(stored.Rollout);
        }
        return (rollouts, more ? ids[^1] : null);
    }

    /// <inheritdoc />
    public async Task AddRolloutAsync(Rollout rollout, IReadOnlyList<RolloutAction> pendingActions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        ArgumentNullException.ThrowIfNull(pendingActions);
        await WriteAsync(async (c, tx, ct) =>
        {
            await using (var exists = Command(c, tx, "SELECT 1 FROM rollouts WHERE id = $id", ("$id", rollout.Id)))
            {
                if (await exists.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null)
                    throw new IoTException(IoTErrorKind.AlreadyExists, $"Rollout '{ErrorText.Escape(rollout.Id)}' already exists.", StoreName, "RolloutAlreadyExists");
            }
            await ExecuteAsync(c, tx,
                "INSERT INTO rollouts (id, plan, status, current_wave, wave_count, created_at, updated_at, reason, revision, pending_actions) " +
                "VALUES ($id, $plan, $status, $wave, $count, $created, $updated, $reason, 1, $pending)", ct,
                ("$id", rollout.Id), ("$plan", PlanToJson(rollout.Plan)), ("$status", rollout.Status.ToString()), ("$wave", rollout.CurrentWave),
                ("$count", rollout.WaveCount), ("$created", rollout.CreatedAt.UtcTicks), ("$updated", rollout.UpdatedAt.UtcTicks),
                ("$reason", rollout.Reason), ("$pending", ActionsToJson(pendingActions))).ConfigureAwait(false);
            await using var insert = DeviceCommand(c, tx,
                "INSERT INTO rollout_devices (rollout_id, position, device_id, wave, status, previous_version, started_at, updated_at, error) " +
                "VALUES ($id, $pos, $device, $wave, $status, $prev, $started, $updated, $error)", rollout.Id);
            for (var i = 0; i < rollout.Devices.Count; i++)
            {
                SetDevice(insert, i, rollout.Devices[i]);
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            return 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<StoredRollout?> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        await using var c = Open();
        // One read transaction: the rollout row and its device rows come from the same commit.
        await using var tx = c.BeginTransaction(deferred: true);
        return await ReadRolloutAsync(c, tx, rolloutId, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<bool> TryUpdateRolloutAsync(Rollout rollout, IReadOnlyList<RolloutAction> pendingActions, long expectedRevision, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        ArgumentNullException.ThrowIfNull(pendingActions);
        return await WriteAsync(async (c, tx, ct) =>
        {
            var before = await ReadRolloutAsync(c, tx, rollout.Id, ct).ConfigureAwait(false);
            if (before is null || before.Revision != expectedRevision)
                return false;
            await ExecuteAsync(c, tx,
                "UPDATE rollouts SET status = $status, current_wave = $wave, updated_at = $updated, reason = $reason, revision = revision + 1, pending_actions = $pending WHERE id = $id", ct,
                ("$id", rollout.Id), ("$status", rollout.Status.ToString()), ("$wave", rollout.CurrentWave), ("$updated", rollout.UpdatedAt.UtcTicks),
                ("$reason", rollout.Reason), ("$pending", ActionsToJson(pendingActions))).ConfigureAwait(false);
            await using var update = DeviceCommand(c, tx,
                "UPDATE rollout_devices SET device_id = $device, wave = $wave, status = $status, previous_version = $prev, started_at = $started, updated_at = $updated, error = $error " +
                "WHERE rollout_id = $id AND position = $pos", rollout.Id);
            var old = before.Rollout.Devices;
            for (var i = 0; i < rollout.Devices.Count; i++)
            {
                // Devices keep their plan order, so only the rows whose record changed are written.
                if (i < old.Count && old[i] == rollout.Devices[i])
                    continue;
                SetDevice(update, i, rollout.Devices[i]);
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> ListUnfinishedRolloutIdsAsync(CancellationToken cancellationToken = default)
    {
        var ids = new List<string>();
        await using var c = Open();
        await using var command = Command(c, null,
            "SELECT id FROM rollouts r WHERE r.status = $running OR r.pending_actions IS NOT NULL " +
            "OR EXISTS (SELECT 1 FROM rollout_devices d WHERE d.rollout_id = r.id AND d.status = $device) ORDER BY r.created_at",
            ("$running", nameof(RolloutStatus.InProgress)), ("$device", nameof(DeviceRolloutStatus.InProgress)));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            ids.Add(reader.GetString(0));
        return ids;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<Rollout>> ListRolloutsAsync(CancellationToken cancellationToken = default)
    {
        var ids = new List<string>();
        await using var c = Open();
        await using (var command = Command(c, null, "SELECT id FROM rollouts ORDER BY created_at, rowid"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                ids.Add(reader.GetString(0));
        }
        var rollouts = new List<Rollout>(ids.Count);
        foreach (var id in ids)
        {
            await using var tx = c.BeginTransaction(deferred: true);
            if (await ReadRolloutAsync(c, tx, id, cancellationToken).ConfigureAwait(false) is { } stored)
                rollouts.Add(stored.Rollout);
        }
        return rollouts;
    }

    /// <summary>Releases pooled connections so the file can be moved or deleted.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    /// <summary>Describes the store without its contents.</summary>
    public override string ToString() => FilePath is null ? "SqliteFirmwareStore { shared database }" : $"SqliteFirmwareStore {{ File = {FilePath} }}";

    private Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, CancellationToken, Task<T>> write, CancellationToken cancellationToken) =>
        SqliteDatabase.WriteAsync(_writeLock, Open, write, cancellationToken);

    private SqliteConnection Open()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    private static async Task<StoredRollout?> ReadRolloutAsync(SqliteConnection c, SqliteTransaction? tx, string rolloutId, CancellationToken ct)
    {
        Rollout rollout;
        long revision;
        IReadOnlyList<RolloutAction> pending;
        await using (var command = Command(c, tx,
            "SELECT plan, status, current_wave, wave_count, created_at, updated_at, reason, revision, pending_actions FROM rollouts WHERE id = $id", ("$id", rolloutId)))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                return null;
            rollout = new Rollout
            {
                Id = rolloutId,
                Plan = PlanFromJson(reader.GetString(0)),
                Status = Enum.Parse<RolloutStatus>(reader.GetString(1)),
                CurrentWave = reader.GetInt32(2),
                WaveCount = reader.GetInt32(3),
                CreatedAt = FromDb(reader.GetInt64(4)),
                UpdatedAt = FromDb(reader.GetInt64(5)),
                Reason = reader.IsDBNull(6) ? null : reader.GetString(6),
            };
            revision = reader.GetInt64(7);
            pending = reader.IsDBNull(8) ? [] : ActionsFromJson(reader.GetString(8));
        }
        var devices = new List<DeviceRolloutState>();
        await using (var command = Command(c, tx,
            "SELECT device_id, wave, status, previous_version, started_at, updated_at, error FROM rollout_devices WHERE rollout_id = $id ORDER BY position", ("$id", rolloutId)))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                devices.Add(new DeviceRolloutState
                {
                    DeviceId = reader.GetString(0),
                    Wave = reader.GetInt32(1),
                    Status = Enum.Parse<DeviceRolloutStatus>(reader.GetString(2)),
                    PreviousVersion = reader.IsDBNull(3) ? null : reader.GetString(3),
                    StartedAt = reader.IsDBNull(4) ? null : FromDb(reader.GetInt64(4)),
                    UpdatedAt = FromDb(reader.GetInt64(5)),
                    Error = reader.IsDBNull(6) ? null : reader.GetString(6),
                });
            }
        }
        return new StoredRollout(rollout with { Devices = devices }, pending, revision);
    }

    private static async Task<FirmwareRelease?> ReadReleaseAsync(SqliteConnection c, SqliteTransaction? tx, string version, CancellationToken ct)
    {
        await using var command = Command(c, tx, "SELECT version, uri, sha256, size, created_at, signature, channel FROM firmware_releases WHERE version = $v", ("$v", version));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadReleaseRow(reader) : null;
    }

    private static FirmwareRelease ReadReleaseRow(SqliteDataReader reader) => new()
    {
        Version = reader.GetString(0),
        Uri = new Uri(reader.GetString(1)),
        Sha256 = reader.GetString(2),
        SizeBytes = reader.GetInt64(3),
        CreatedAt = FromDb(reader.GetInt64(4)),
        Signature = reader.IsDBNull(5) ? null : reader.GetString(5),
        Channel = reader.GetString(6),
    };

    private static SqliteCommand DeviceCommand(SqliteConnection c, SqliteTransaction tx, string sql, string rolloutId) => Command(c, tx, sql,
        ("$id", rolloutId), ("$pos", 0), ("$device", ""), ("$wave", 0), ("$status", ""), ("$prev", null), ("$started", null), ("$updated", 0L), ("$error", null));

    private static void SetDevice(SqliteCommand command, int position, DeviceRolloutState device)
    {
        command.Parameters["$pos"].Value = position;
        command.Parameters["$device"].Value = device.DeviceId;
        command.Parameters["$wave"].Value = device.Wave;
        command.Parameters["$status"].Value = device.Status.ToString();
        command.Parameters["$prev"].Value = (object?)device.PreviousVersion ?? DBNull.Value;
        command.Parameters["$started"].Value = device.StartedAt is { } started ? started.UtcTicks : DBNull.Value;
        command.Parameters["$updated"].Value = device.UpdatedAt.UtcTicks;
        command.Parameters["$error"].Value = (object?)device.Error ?? DBNull.Value;
    }

    private static DateTimeOffset FromDb(long ticks) => SqliteDatabase.FromDb(ticks);

    // The Local provider's plan format, kept so rollouts it wrote before this store still read.
    private static string PlanToJson(RolloutPlan plan) => new JsonObject
    {
        ["releaseVersion"] = plan.ReleaseVersion,
        ["deviceIds"] = new JsonArray(plan.DeviceIds.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()),
        ["waveSizes"] = plan.WaveSizes is null ? null : new JsonArray(plan.WaveSizes.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
        ["successThreshold"] = plan.SuccessThreshold,
        ["failureThreshold"] = plan.FailureThreshold,
        ["deviceTimeoutTicks"] = plan.DeviceTimeout.Ticks,
        // Absent in plans written before security patching; they read back as "no minimum, no downgrades".
        ["minimumRunningVersion"] = plan.MinimumRunningVersion,
        ["allowDowngrade"] = plan.AllowDowngrade,
    }.ToJsonString();

    private static RolloutPlan PlanFromJson(string json)
    {
        var obj = JsonNode.Parse(json)!.AsObject();
        return new RolloutPlan
        {
            ReleaseVersion = obj["releaseVersion"]!.GetValue<string>(),
            DeviceIds = obj["deviceIds"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray(),
            WaveSizes = obj["waveSizes"]?.AsArray().Select(n => n!.GetValue<int>()).ToArray(),
            SuccessThreshold = obj["successThreshold"]!.GetValue<double>(),
            FailureThreshold = obj["failureThreshold"]!.GetValue<double>(),
            DeviceTimeout = TimeSpan.FromTicks(obj["deviceTimeoutTicks"]!.GetValue<long>()),
            MinimumRunningVersion = obj["minimumRunningVersion"]?.GetValue<string>(),
            AllowDowngrade = obj["allowDowngrade"]?.GetValue<bool>() ?? false,
        };
    }

    // NULL when empty, so "has pending actions" is a plain IS NOT NULL in the unfinished query.
    private static string? ActionsToJson(IReadOnlyList<RolloutAction> actions) => actions.Count == 0 ? null : new JsonArray(actions.Select(a => (JsonNode?)new JsonObject
    {
        ["kind"] = a.Kind.ToString(),
        ["deviceId"] = a.DeviceId,
        ["version"] = a.Version,
    }).ToArray()).ToJsonString();

    private static RolloutAction[] ActionsFromJson(string json) => JsonNode.Parse(json)!.AsArray()
        .Select(n => new RolloutAction(Enum.Parse<RolloutActionKind>(n!["kind"]!.GetValue<string>()), n["deviceId"]!.GetValue<string>(), n["version"]!.GetValue<string>()))
        .ToArray();

    private static void Migrate(SqliteConnection connection) => SqliteDatabase.Migrate(connection, "firmware_schema_version", Migrations, "firmware store");

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters) =>
        SqliteDatabase.Command(connection, transaction, sql, parameters);

    private static Task<int> ExecuteAsync(SqliteConnection c, SqliteTransaction? tx, string sql, CancellationToken ct, params (string Name, object? Value)[] parameters) =>
        SqliteDatabase.ExecuteAsync(c, tx, sql, ct, parameters);
}
