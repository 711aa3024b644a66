using System.Collections.Concurrent;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// The devices held to firmware-update traffic (the minimum-version policy's "restrict" enforcement), each with the version
/// it must reach. Kept in the registry database so a restriction survives a restart, and mirrored in memory because the
/// broker asks on every publish and subscription. A restriction lifts when the device reports a running version at or
/// above its minimum (<see cref="OnReportedAsync"/>, a reported-state listener) and goes with the device when it is deleted.
/// </summary>
internal sealed class FirmwareRestrictions : IDisposable
{
    private readonly LocalStore _store;
    private readonly ConcurrentDictionary<string, FirmwareVersion> _restricted;
    // Serialises database write and memory update together, so a lift and a new restriction of one device cannot interleave.
    private readonly SemaphoreSlim _gate = new(1, 1);
    // Restrictions being written: while one is, a report must wait for it rather than miss a restriction not yet in memory.
    private int _pending;

    private FirmwareRestrictions(LocalStore store, ConcurrentDictionary<string, FirmwareVersion> restricted)
    {
        _store = store;
        _restricted = restricted;
    }

    /// <summary>Loads the restrictions stored in <paramref name="store"/>.</summary>
    public static async Task<FirmwareRestrictions> LoadAsync(LocalStore store, CancellationToken cancellationToken)
    {
        var rows = await store.ReadAsync(async (c, ct) =>
        {
            var found = new ConcurrentDictionary<string, FirmwareVersion>(StringComparer.Ordinal);
            await using var command = LocalStore.Command(c, null, "SELECT device_id, minimum_version FROM firmware_restrictions");
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                found[reader.GetString(0)] = FirmwareVersion.Parse(reader.GetString(1));
            return found;
        }, cancellationToken).ConfigureAwait(false);
        return new FirmwareRestrictions(store, rows);
    }

    /// <summary>Whether <paramref name="deviceId"/> may only exchange firmware-update traffic now.</summary>
    public bool IsRestricted(string deviceId) => _restricted.ContainsKey(deviceId);

    /// <summary>The restricted devices with the version each must reach.</summary>
    public IReadOnlyDictionary<string, string> Snapshot() =>
        _restricted.ToDictionary(r => r.Key, r => r.Value.ToString(), StringComparer.Ordinal);

    /// <summary>
    /// Restricts a registered device until it reports <paramref name="minimum"/> or later. A device whose stored report
    /// already shows that (it was patched since the caller read it) is left alone.
    /// </summary>
    /// <returns>Whether the device is restricted now.</returns>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: The device is not registered.</exception>
    public async Task<bool> RestrictAsync(string deviceId, FirmwareVersion minimum, CancellationToken cancellationToken)
    {
        DeviceIdRules.Local.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(minimum);
        Interlocked.Increment(ref _pending);
        try
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var restricted = await _store.WriteAsync(async (c, tx, ct) =>
                {
                    await LocalStore.EnsureDeviceExistsAsync(c, tx, deviceId, ct).ConfigureAwait(false);
                    // Read in the same transaction as the insert: a report stored before it is seen here, one stored after
                    // it reaches OnReportedAsync, which waits for this restriction to be in memory.
                    await using (var read = LocalStore.Command(c, tx, "SELECT reported FROM device_state WHERE device_id = $id", ("$id", deviceId)))
                    {
                        if (await read.ExecuteScalarAsync(ct).ConfigureAwait(false) is string reported && Reaches(LocalStateService.TryReadDocument(reported), minimum))
                            return false;
                    }
                    await LocalStore.ExecuteAsync(c, tx,
                        "INSERT INTO firmware_restrictions (device_id, minimum_version) VALUES ($id, $min) ON CONFLICT (device_id) DO UPDATE SET minimum_version = $min", ct,
                        ("$id", deviceId), ("$min", minimum.ToString())).ConfigureAwait(false);
                    return true;
                }, cancellationToken).ConfigureAwait(false);
                if (restricted) _restricted[deviceId] = minimum;
                return restricted;
            }
            finally
            {
                _gate.Release();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>
    /// A reported-state listener: lifts the device's restriction once the running version it reports is at or above its
    /// minimum. Versions that are not semver never lift it (the device cannot prove it is patched).
    /// </summary>
    public async Task OnReportedAsync(string deviceId, DeviceState state, CancellationToken cancellationToken)
    {
        // The fast path for the many reports of unrestricted devices.
        if (!_restricted.ContainsKey(deviceId) && Volatile.Read(ref _pending) == 0) return;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_restricted.TryGetValue(deviceId, out var minimum) && Reaches(state.Reported, minimum))
                await DeleteAsync(deviceId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Drops the device's restriction (it was deleted).</summary>
    public async Task ForgetAsync(string deviceId, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_restricted.ContainsKey(deviceId)) await DeleteAsync(deviceId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Deletes the row, then the entry; the caller holds the gate.</summary>
    private async Task DeleteAsync(string deviceId, CancellationToken cancellationToken)
    {
        await _store.WriteAsync((c, tx, ct) =>
            LocalStore.ExecuteAsync(c, tx, "DELETE FROM firmware_restrictions WHERE device_id = $id", ct, ("$id", deviceId)),
            cancellationToken).ConfigureAwait(false);
        _restricted.TryRemove(deviceId, out _);
    }

    /// <summary>Whether a reported document shows a running semantic version at or above <paramref name="minimum"/>.</summary>
    private static bool Reaches(System.Text.Json.Nodes.JsonObject? reported, FirmwareVersion minimum) =>
        FirmwareVersion.TryParse(FirmwareStateContract.TryGetReported(reported)?.Version, out var running) && running >= minimum;

    /// <inheritdoc />
    public void Dispose() => _gate.Dispose();
}
