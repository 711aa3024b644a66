using Microsoft.Data.Sqlite;

namespace IoTMastery.Sdk.Providers;

// The advisory half of the store (IAdvisoryStore): security advisories for the patching API, kept in the same database
// as releases and rollouts so a compliance report reads one consistent file.
internal sealed partial class SqliteFirmwareStore
{
    /// <inheritdoc />
    public async Task<FirmwareAdvisory> UpsertAdvisoryAsync(FirmwareAdvisory advisory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(advisory);
        ArgumentException.ThrowIfNullOrEmpty(advisory.Id);
        return await WriteAsync(async (c, tx, ct) =>
        {
            var existing = await ReadAdvisoryAsync(c, tx, advisory.Id, ct).ConfigureAwait(false);
            if (existing is not null && existing.Modified > advisory.Modified)
                return existing;
            var kept = advisory with { ImportedAt = existing?.ImportedAt ?? advisory.ImportedAt };
            await ExecuteAsync(c, tx,
                "INSERT INTO advisories (id, modified, imported_at, record) VALUES ($id, $modified, $imported, $record) " +
                "ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, record = excluded.record", ct,
                ("$id", kept.Id), ("$modified", kept.Modified.UtcTicks), ("$imported", kept.ImportedAt.UtcTicks), ("$record", AdvisoryJson.Write(kept))).ConfigureAwait(false);
            return kept;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<FirmwareAdvisory?> GetAdvisoryAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        await using var c = Open();
        return await ReadAdvisoryAsync(c, null, id, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<FirmwareAdvisory>> ListAdvisoriesAsync(CancellationToken cancellationToken = default)
    {
        var list = new List<FirmwareAdvisory>();
        await using var c = Open();
        await using var command = Command(c, null, "SELECT record, imported_at FROM advisories ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            list.Add(AdvisoryJson.Read(reader.GetString(0)) with { ImportedAt = FromDb(reader.GetInt64(1)) });
        return list;
    }

    private static async Task<FirmwareAdvisory?> ReadAdvisoryAsync(SqliteConnection c, SqliteTransaction? tx, string id, CancellationToken ct)
    {
        await using var command = Command(c, tx, "SELECT record, imported_at FROM advisories WHERE id = $id", ("$id", id));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? AdvisoryJson.Read(reader.GetString(0)) with { ImportedAt = FromDb(reader.GetInt64(1)) } : null;
    }
}
