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

    /// <summary>Restricts a registered device until it reports <paramref name="minimum"/> or later.</summary>
    /// <exception cref="DeviceNotFoundException">The device is not registered.</exception>
    public async Task RestrictAsync(string deviceId, FirmwareVersion minimum, CancellationToken cancellationToken)
    {
        DeviceIdRules.Local.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(minimum);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _store.WriteAsync(async (c, tx, ct) =>
            {
                await LocalStore.EnsureDeviceExistsAsync(c, tx, deviceId, ct).ConfigureAwait(false);
                return await LocalStore.ExecuteAsync(c, tx,
                    "INSERT INTO firmware_restrictions (device_id, minimum_version) VALUES ($id, $min) ON CONFLICT (device_id) DO UPDATE SET minimum_version = $min", ct,
                    ("$id", deviceId), ("$min", minimum.ToString())).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            _restricted[deviceId] = minimum;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// A reported-state listener: lifts the device's restriction once the running version it reports is at or above its
    /// minimum. Versions that are not semver never lift it (the device cannot prove it is patched).
    /// </summary>
    public async Task OnReportedAsync(string deviceId, DeviceState state, CancellationToken cancellationToken)
    {
        if (!_restricted.TryGetValue(deviceId, out var minimum)) return;
        if (!FirmwareVersion.TryParse(FirmwareStateContract.TryGetReported(state.Reported)?.Version, out var running) || running < minimum) return;
        await ForgetAsync(deviceId, minimum, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Drops the device's restriction (it was deleted).</summary>
    public Task ForgetAsync(string deviceId, CancellationToken cancellationToken) => ForgetAsync(deviceId, null, cancellationToken);

    /// <summary>Drops the restriction; with <paramref name="ifMinimum"/>, only while that is still the device's minimum (a newer, higher one stays).</summary>
    private async Task ForgetAsync(string deviceId, FirmwareVersion? ifMinimum, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_restricted.TryGetValue(deviceId, out var current) || (ifMinimum is not null && current != ifMinimum)) return;
            await _store.WriteAsync((c, tx, ct) =>
                LocalStore.ExecuteAsync(c, tx, "DELETE FROM firmware_restrictions WHERE device_id = $id", ct, ("$id", deviceId)),
                cancellationToken).ConfigureAwait(false);
            _restricted.TryRemove(deviceId, out _);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public void Dispose() => _gate.Dispose();
}
