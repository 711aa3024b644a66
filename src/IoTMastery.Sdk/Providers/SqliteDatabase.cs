using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk;

/// <summary>
/// What the SDK's SQLite databases share (the Local provider's registry and the firmware store): owner-only files in
/// WAL mode, versioned schemas, parameterised commands and the time format.
/// </summary>
internal static class SqliteDatabase
{
    /// <summary>
    /// Prepares <paramref name="path"/> (its folder created 0700, the file and its <c>-wal</c>/<c>-shm</c> made owner-only,
    /// with a warning when they were not) and returns the connection string for it.
    /// </summary>
    public static string PrepareOwnerOnlyFile(string path, ILogger logger)
    {
        // SQLite creates the file but not its folder; without this a fresh path fails with the opaque "error 14".
        OwnerOnlyFiles.CreateFolderFor(path);
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            OwnerOnlyFiles.Tighten(path + suffix, logger);
        OwnerOnlyFiles.CreateEmpty(path);
        return new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    /// <summary>Switches a file database to WAL: readers run while a writer commits, and the mode persists in the file.</summary>
    public static void UseWal(SqliteConnection connection) => Execute(connection, null, "PRAGMA journal_mode=WAL;");

    /// <summary>
    /// Brings a schema up to date in one immediate transaction: <paramref name="migrations"/>[i] is version i + 1, the
    /// versions applied are rows of <paramref name="versionTable"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The database is newer than <paramref name="migrations"/>.</exception>
    public static void Migrate(SqliteConnection connection, string versionTable, IReadOnlyList<string> migrations, string what)
    {
        using var transaction = connection.BeginTransaction(deferred: false);
        Execute(connection, transaction, $"CREATE TABLE IF NOT EXISTS {versionTable} (version INTEGER NOT NULL)");
        using var read = Command(connection, transaction, $"SELECT MAX(version) FROM {versionTable}");
        var current = read.ExecuteScalar() is long v ? (int)v : 0;
        if (current > migrations.Count)
            throw new InvalidOperationException($"The {what} has schema version {current}, newer than this library's {migrations.Count}; upgrade the library.");
        for (var version = current + 1; version <= migrations.Count; version++)
        {
            Execute(connection, transaction, migrations[version - 1]);
            Execute(connection, transaction, $"INSERT INTO {versionTable} (version) VALUES ($v)", ("$v", version));
        }
        transaction.Commit();
    }

    /// <summary>Runs a read-modify-write in an immediate transaction, one writer of this process at a time; commits when <paramref name="write"/> returns.</summary>
    public static async Task<T> WriteAsync<T>(SemaphoreSlim writeLock, Func<SqliteConnection> open,
        Func<SqliteConnection, SqliteTransaction, CancellationToken, Task<T>> write, CancellationToken cancellationToken)
    {
        await writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = open();
            // Immediate: a read-compare-write holds SQLite's write lock from the read on, across processes too.
            await using var transaction = connection.BeginTransaction(deferred: false);
            var result = await write(connection, transaction, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            return result;
        }
        finally
        {
            writeLock.Release();
        }
    }

    /// <summary>Creates a parameterised command.</summary>
    public static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    /// <summary>Runs a parameterised statement and returns the rows changed.</summary>
    public static async Task<int> ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(connection, transaction, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a parameterised statement synchronously.</summary>
    public static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        command.ExecuteNonQuery();
    }

    /// <summary>Times are stored as UTC ticks, which round-trip exactly and sort correctly.</summary>
    public static long ToDb(DateTimeOffset value) => value.UtcTicks;

    /// <summary>Reads a time stored by <see cref="ToDb"/>.</summary>
    public static DateTimeOffset FromDb(long ticks) => new(ticks, TimeSpan.Zero);
}
