using System.Globalization;
using DuckDB.NET.Data;

namespace IoTMastery.Sdk.Analytics.Tests;

/// <summary>A temporary folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("iotm-lake-").FullName;

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Queries a lake folder with embedded DuckDB (an independent Parquet reader), as a <c>lake</c> view with Hive partitions.</summary>
internal sealed class LakeDb : IDisposable
{
    private readonly DuckDBConnection _connection;

    public LakeDb(string lakeDirectory)
    {
        _connection = new DuckDBConnection("DataSource=:memory:");
        _connection.Open();
        // Not a view: DuckDB prunes Hive partitions for a read_parquet in the query itself, but a view opened every file.
        _source = $"read_parquet('{lakeDirectory.Replace("'", "''", StringComparison.Ordinal)}/**/*.parquet', hive_partitioning = true, hive_types = {{'date': DATE, 'hour': INTEGER}})";
    }

    private readonly string _source;

    /// <summary>Queries name the lake <c>lake</c>; it is replaced by the read_parquet call.</summary>
    private string Expand(string sql) => sql.Replace("FROM lake", "FROM " + _source, StringComparison.Ordinal);

    public void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = Expand(sql);
        command.ExecuteNonQuery();
    }

    public long Long(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = Expand(sql);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public List<object[]> Rows(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = Expand(sql);
        using var reader = command.ExecuteReader();
        var rows = new List<object[]>();
        while (reader.Read())
        {
            var row = new object[reader.FieldCount];
            reader.GetValues(row);
            rows.Add(row);
        }
        return rows;
    }

    public void Dispose() => _connection.Dispose();
}

internal static class Fleet
{
    public static readonly DateTimeOffset Start = new(2026, 12, 7, 4, 30, 0, TimeSpan.Zero);

    /// <summary>Deterministic records: <paramref name="devices"/> devices, 2 metrics, one reading per device per second from <paramref name="from"/>, values from the index.</summary>
    public static TelemetryRecord[] Records(int count, int devices = 10, DateTimeOffset? from = null, int offset = 0)
    {
        var start = from ?? Start;
        var records = new TelemetryRecord[count];
        for (int i = 0; i < count; i++)
        {
            int n = offset + i;
            records[i] = new TelemetryRecord($"dev-{n % devices:D3}", n % 2 == 0 ? "temperature" : "pressure",
                (n % 1000) / 10.0, start.AddSeconds(n / devices));
        }
        return records;
    }

    public static TelemetryOutbox Outbox(string directory) => TelemetryOutbox.Open(SpoolOptions(directory));

    /// <summary>A spool in <paramref name="directory"/> with room for the big tests (1 GiB).</summary>
    public static TelemetryOutboxOptions SpoolOptions(string directory) => new() { Directory = directory, MaxDiskBytes = 1L << 30 };

    /// <summary>
    /// Leaves <paramref name="batches"/> pending in the spool at <paramref name="directory"/>, as an exporter that spooled
    /// them and stopped (or crashed) before writing them would: the next exporter on that spool exports them.
    /// </summary>
    public static void Spool(string directory, params TelemetryRecord[][] batches)
    {
        using var outbox = Outbox(directory);
        foreach (var batch in batches) outbox.AppendBatch(batch);
    }
}

/// <summary>A channel that yields nothing until cancelled: <see cref="TelemetryLakeExporter.RunAsync"/> then exports only what is already spooled.</summary>
internal sealed class SilentChannel : ITelemetryChannel
{
    public async IAsyncEnumerable<TelemetryRecord> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        yield break;
    }
}
