using System.Text.Json.Nodes;
using IoTMastery.Sdk.Providers;

namespace IoTMastery.Sdk;

/// <summary>
/// Firmware delivery through a provider's own <see cref="IDeviceStateService"/>: the desired <c>firmware</c> object is
/// one desired-state patch and the report is read from the reported state. Every provider's state service already
/// maps its wire (Local device_state, Azure twins, Cloud IoT config versions and states, the AWS classic shadow) and
/// turns a missing device into <see cref="IoTErrorKind.DeviceNotFound"/>, so one delivery serves all four.
/// </summary>
internal sealed class StateFirmwareDelivery(IDeviceStateService state, DeviceIdRules rules) : IFirmwareDelivery
{
    /// <inheritdoc />
    public DeviceIdRules DeviceIdRules => rules;

    /// <inheritdoc />
    public async Task<ReportedFirmware?> ReadReportedAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        var current = await state.GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return FirmwareStateContract.TryGetReported(current.Reported);
    }

    /// <inheritdoc />
    public Task WriteDesiredAsync(string deviceId, JsonObject firmware, CancellationToken cancellationToken = default) =>
        // Unconditional (no expected version): the write is idempotent, and a guarded one would fail on every device report.
        state.UpdateDesiredAsync(deviceId, new JsonObject { [FirmwareStateContract.PropertyName] = firmware.DeepClone() }, null, cancellationToken);
}
