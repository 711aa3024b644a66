using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Providers;

/// <summary>
/// For provider authors: the SDK's one firmware engine over your <see cref="IFirmwareDelivery"/>, so your provider's
/// <see cref="IIoTProvider.Firmware"/> has the same waves, thresholds, rollbacks, deleted-device handling and crash
/// safety as the built-in providers.
/// </summary>
internal static class FirmwareServices
{
    /// <summary>Creates a firmware service on <paramref name="store"/> that reaches devices through <paramref name="delivery"/>.</summary>
    /// <param name="store">Durable releases and rollouts; the caller keeps ownership.</param>
    /// <param name="delivery">Reads and writes one device's firmware state.</param>
    /// <param name="providerName">The provider name carried by the exceptions the service raises.</param>
    /// <param name="timeProvider">The clock for device timeouts; defaults to the system clock.</param>
    /// <param name="logger">Receives per-device problems that do not fail a call.</param>
    public static IFirmwareService Create(IFirmwareStore store, IFirmwareDelivery delivery, string providerName,
        TimeProvider? timeProvider = null, ILogger? logger = null) =>
        new FirmwareEngine(store, delivery, providerName, timeProvider, logger);

    /// <summary>
    /// Creates a firmware service whose delivery is your provider's <see cref="IDeviceStateService"/>: the desired
    /// <c>firmware</c> object is written as a desired-state patch and reports are read from the reported state (how the
    /// built-in providers deliver firmware). The state service must raise <see cref="IoTErrorKind.DeviceNotFound"/> for a
    /// device that does not exist.
    /// </summary>
    /// <param name="store">Durable releases and rollouts; the caller keeps ownership.</param>
    /// <param name="state">The provider's desired/reported state.</param>
    /// <param name="deviceIdRules">The provider's device-id rules, checked before a rollout touches anything.</param>
    /// <param name="providerName">The provider name carried by the exceptions the service raises.</param>
    /// <param name="timeProvider">The clock for device timeouts; defaults to the system clock.</param>
    /// <param name="logger">Receives per-device problems that do not fail a call.</param>
    public static IFirmwareService Create(IFirmwareStore store, IDeviceStateService state, DeviceIdRules deviceIdRules, string providerName,
        TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(deviceIdRules);
        return new FirmwareEngine(store, new StateFirmwareDelivery(state, deviceIdRules), providerName, timeProvider, logger);
    }
}
