namespace IoTMastery.Sdk.Diagnostics;

/// <summary>
/// Wraps a provider's neutral fleet-side services in the tracing and metric decorators. Every provider calls this once,
/// where it builds its services, so spans and metrics are the same on Local, AWS, Azure and GCP-style whatever each
/// implementation does inside.
/// </summary>
internal static class ProviderInstrumentation
{
    /// <summary>The four services, each wrapped once (an already wrapped one is returned as it is).</summary>
    /// <param name="provider">The provider name, the <c>iotmastery.provider</c> attribute and the <c>provider</c> metric tag.</param>
    /// <param name="time">The provider's clock, for the command duration.</param>
    /// <param name="registry">The provider's registry.</param>
    /// <param name="state">The provider's state service.</param>
    /// <param name="commands">The provider's command service.</param>
    /// <param name="firmware">The provider's firmware service, whichever engine it is.</param>
    public static (IDeviceRegistry Registry, IDeviceStateService State, IDeviceCommandService Commands, IFirmwareService Firmware) Instrument(
        string provider, TimeProvider time, IDeviceRegistry registry, IDeviceStateService state, IDeviceCommandService commands, IFirmwareService firmware)
    {
        ArgumentException.ThrowIfNullOrEmpty(provider);
        ArgumentNullException.ThrowIfNull(time);
        return (
            registry as TracedDeviceRegistry ?? new TracedDeviceRegistry(registry, provider),
            state as TracedStateService ?? new TracedStateService(state, provider),
            commands as TracedCommandService ?? new TracedCommandService(commands, provider, time),
            firmware as TracedFirmwareService ?? new TracedFirmwareService(firmware, provider));
    }
}
