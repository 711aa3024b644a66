using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Diagnostics;

/// <summary>Traces every call of any provider's <see cref="IDeviceStateService"/>; the span names are <c>state.*</c>. Documents are never tagged.</summary>
internal sealed class TracedStateService(IDeviceStateService inner, string provider) : TracedService(provider), IDeviceStateService
{
    internal IDeviceStateService Inner => inner;

    public Task<DeviceState> GetAsync(string deviceId, CancellationToken cancellationToken = default) =>
        TraceAsync("state.get", deviceId, () => inner.GetAsync(deviceId, cancellationToken));

    public Task<DeviceState> UpdateDesiredAsync(string deviceId, JsonObject patch, long? expectedVersion = null, CancellationToken cancellationToken = default) =>
        TraceAsync("state.update_desired", deviceId, () => inner.UpdateDesiredAsync(deviceId, patch, expectedVersion, cancellationToken));
}
