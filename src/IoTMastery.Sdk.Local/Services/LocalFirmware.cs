using IoTMastery.Sdk.Providers;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// Local firmware: the core <see cref="FirmwareEngine"/> with its releases and rollouts in the registry's own database
/// (the firmware tables, brought up to date by <see cref="SqliteFirmwareStore"/>) and device_state as the delivery.
/// A device's firmware report re-evaluates its rollouts at once instead of at the next read.
/// </summary>
internal sealed class LocalFirmware : IDisposable
{
    private readonly SqliteFirmwareStore _store;
    private readonly FirmwareEngine _engine;

    public LocalFirmware(LocalStore store, LocalStateService state, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        _store = SqliteFirmwareStore.OnDatabase(store.ConnectionString);
        _engine = new FirmwareEngine(_store, new StateFirmwareDelivery(state, DeviceIdRules.Local), "Local", timeProvider, logger);
        state.AddReportedListener((deviceId, patch, _, ct) =>
            patch.ContainsKey(FirmwareStateContract.PropertyName) ? _engine.OnDeviceReportedAsync(deviceId, ct) : Task.CompletedTask);
    }

    /// <summary>The firmware service.</summary>
    public IFirmwareService Service => _engine;

    /// <inheritdoc />
    public void Dispose()
    {
        _engine.Dispose();
        _store.Dispose();
    }
}
