using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Providers;

/// <summary>
/// What the shared firmware engine needs from a provider for one device: read the firmware it reports and write the
/// firmware it should run (the <c>firmware</c> object of <see cref="FirmwareStateContract"/>). Writing the same desired
/// firmware twice must be harmless: after a crash the engine repeats the writes it cannot prove were made.
/// </summary>
internal interface IFirmwareDelivery
{
    /// <summary>The device-id rules checked before a rollout touches anything.</summary>
    DeviceIdRules DeviceIdRules { get; }

    /// <summary>The device's latest reported firmware; <see langword="null"/> when it has reported none (or nothing readable).</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: The device does not exist (any more).</exception>
    Task<ReportedFirmware?> ReadReportedAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>Sets the device's desired firmware to <paramref name="firmware"/>, built by <see cref="FirmwareStateContract.BuildDesired"/>.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: The device does not exist (any more).</exception>
    Task WriteDesiredAsync(string deviceId, JsonObject firmware, CancellationToken cancellationToken = default);
}
