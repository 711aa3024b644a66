namespace IoTMastery.Sdk.Providers;

/// <summary>
/// A provider that can hold a device to firmware-update traffic only, because it owns the broker that routes the device's
/// topics (Local). Internal: applications reach it through <see cref="SecurityPatching.RestrictDevicesBelowMinimumAsync"/>,
/// and <see cref="ProviderCapabilities.FirmwareOnlyRestriction"/> says whether the provider has it.
/// </summary>
internal interface IFirmwareOnlyRestriction
{
    /// <summary>
    /// Restricts <paramref name="deviceId"/> until it reports a running version at or above <paramref name="minimum"/>;
    /// restricting it again replaces the minimum. Idempotent, so a retry after a fault is safe.
    /// </summary>
    /// <returns>Whether it is restricted now: false when its stored report already reaches the minimum.</returns>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: The device is not registered.</exception>
    Task<bool> RestrictAsync(string deviceId, FirmwareVersion minimum, CancellationToken cancellationToken);

    /// <summary>The devices restricted now, by id, with the version each must reach.</summary>
    Task<IReadOnlyDictionary<string, string>> ListRestrictedAsync(CancellationToken cancellationToken);
}
