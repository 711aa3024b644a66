using Microsoft.Data.Sqlite;

namespace IoTMastery.Sdk.Local;

// Bulk registration: validate all, issue certificates in parallel, write one transaction per chunk.
internal sealed partial class LocalDeviceRegistry
{
    /// <summary>
    /// Registers many devices: every item is checked first, certificates are issued in parallel across the cores (ECDSA
    /// P-256 key generation and signing are CPU work that needs no lock), then devices are written one transaction per
    /// chunk of <see cref="BulkChunkSize"/>, so a fleet costs a few commits instead of one per device. An id that already
    /// exists fails alone; a chunk whose transaction fails (disk full, cancellation) reports that error for each of its devices.
    /// </summary>
    public async Task<IReadOnlyList<BulkRegistrationItem>> RegisterManyAsync(IReadOnlyList<DeviceRegistration> registrations, CancellationToken cancellationToken = default)
    {
        BulkRegistration.Validate(registrations);
        var items = new BulkRegistrationItem?[registrations.Count];
        var valid = new List<int>(registrations.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < registrations.Count; i++)
        {
            var error = BulkRegistration.ItemError(registrations[i], i, Rules, seen) ?? ItemInputError(registrations[i]);
            if (error is null) valid.Add(i);
            else items[i] = BulkRegistration.Failed(registrations[i], i, error);
        }

        var issued = new IssuedCredential?[registrations.Count];
        try
        {
            // The CA is thread-safe (each signature takes its own handle to the CA key), so issuing fans out over the cores.
            await Task.Run(() => Parallel.ForEach(valid,
                new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken },
                i =>
                {
                    if (registrations[i].Credential is { } request)
                        issued[i] = _ca.IssueDeviceCertificate(registrations[i].Id, request);
                }), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex)
        {
            foreach (var i in valid) items[i] = BulkRegistration.Failed(registrations[i], i, ex);
            return items!;
        }

        var now = LocalStore.FromDb(LocalStore.ToDb(_time.GetUtcNow()));
        foreach (var chunk in valid.Chunk(BulkChunkSize))
        {
            try
            {
                var existing = await _store.WriteAsync((c, tx, ct) => InsertChunkAsync(c, tx, registrations, issued, chunk, now, ct), cancellationToken).ConfigureAwait(false);
                foreach (var i in chunk)
                {
                    var registration = registrations[i];
                    items[i] = existing.Contains(i)
                        ? BulkRegistration.Failed(registration, i,
                            new IoTException(IoTErrorKind.AlreadyExists, $"Device '{ErrorText.Escape(registration.Id)}' already exists.", Provider, "DeviceAlreadyExists"))
                        : new BulkRegistrationItem { Index = i, DeviceId = registration.Id, Registration = NewDeviceResult(registration, issued[i], now) };
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The chunk's transaction rolled back: none of its devices exists.
                foreach (var i in chunk) items[i] = BulkRegistration.Failed(registrations[i], i, ex);
            }
        }
        return items!;
    }

    /// <summary>Devices written per transaction in <see cref="RegisterManyAsync"/>: large enough that commits are rare, small enough that the write lock is not held for long.</summary>
    internal const int BulkChunkSize = 500;

    private static Exception? ItemInputError(DeviceRegistration registration)
    {
        try
        {
            ValidateAttributes(registration.Attributes, nameof(registration.Attributes));
            if (registration.Credential is { } request)
                ValidateCredentialRequest(request);
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            return ex;
        }
    }

    // Returns the indexes whose id already exists; the others are written. Commands are prepared once per chunk.
    private static async Task<HashSet<int>> InsertChunkAsync(SqliteConnection c, SqliteTransaction tx, IReadOnlyList<DeviceRegistration> registrations,
        IssuedCredential?[] issued, int[] chunk, DateTimeOffset now, CancellationToken ct)
    {
        var existing = new HashSet<int>();
        await using var device = LocalStore.Command(c, tx,
            InsertDeviceSql + " ON CONFLICT (id) DO NOTHING",
            ("$id", ""), ("$status", EnabledText), ("$attributes", ""), ("$now", LocalStore.ToDb(now)));
        await using var state = LocalStore.Command(c, tx,
            InsertStateSql, ("$id", ""));
        await using var credential = LocalStore.Command(c, tx,
            InsertCredentialSql,
            ("$cid", ""), ("$id", ""), ("$kind", ""), ("$status", ""), ("$nb", 0L), ("$na", 0L));
        foreach (var i in chunk)
        {
            var registration = registrations[i];
            device.Parameters["$id"].Value = registration.Id;
            device.Parameters["$attributes"].Value = SerializeAttributes(registration.Attributes);
            if (await device.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
            {
                existing.Add(i);
                continue;
            }
            state.Parameters["$id"].Value = registration.Id;
            await state.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            if (issued[i]?.Info is { } info)
            {
                credential.Parameters["$cid"].Value = info.Id;
                credential.Parameters["$id"].Value = registration.Id;
                credential.Parameters["$kind"].Value = info.Kind.ToString();
                credential.Parameters["$status"].Value = StatusText(info);
                credential.Parameters["$nb"].Value = LocalStore.ToDb(info.NotBefore);
                credential.Parameters["$na"].Value = LocalStore.ToDb(info.NotAfter);
                await credential.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        return existing;
    }

    // The record as the transaction wrote it, built in memory: reading each device back would double the chunk's work.
    private static DeviceRegistrationResult NewDeviceResult(DeviceRegistration registration, IssuedCredential? issued, DateTimeOffset now)
    {
        CredentialInfo[] credentials = issued is null
            ? []
            : [issued.Info with { NotBefore = LocalStore.FromDb(LocalStore.ToDb(issued.Info.NotBefore)), NotAfter = LocalStore.FromDb(LocalStore.ToDb(issued.Info.NotAfter)) }];
        var device = new Device
        {
            Id = registration.Id,
            Attributes = new Dictionary<string, string>(registration.Attributes, StringComparer.Ordinal),
            Version = 1,
            CreatedAt = now,
            Credentials = credentials,
        };
        return new DeviceRegistrationResult(device, issued);
    }
}
