using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure;

/// <summary>Desired and reported state over IoT Hub twins; versions are the twin's per-section <c>$version</c>.</summary>
internal sealed class AzureStateService(IotHubServiceClient hub) : IDeviceStateService
{
    public async Task<DeviceState> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        return TwinMapping.ToState(deviceId, await hub.GetTwinAsync(deviceId, cancellationToken).ConfigureAwait(false));
    }

    public async Task<DeviceState> UpdateDesiredAsync(string deviceId, JsonObject patch, long? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(patch);
        if (patch.Any(p => p.Key.StartsWith('$')))
            throw new ArgumentException("Desired property names must not start with '$' (reserved by IoT Hub).", nameof(patch));
        // The core's one depth limit, before any request (IoT Hub's own twin limits are stricter and answered by the service).
        JsonLimits.Serialize(patch, 32 * 1024, "A state patch", nameof(patch));
        string? etag = null;
        if (expectedVersion is { } expected)
        {
            var current = await hub.GetTwinAsync(deviceId, cancellationToken).ConfigureAwait(false);
            var version = TwinMapping.Long(current["properties"]?["desired"]?["$version"]);
            if (version != expected)
                throw IoTException.PreconditionFailed($"The desired state of '{deviceId}' is at version {version}, not {expected}.", IotHubErrors.Provider, "412001", version);
            etag = TwinMapping.Text(current["etag"]);
        }
        var body = new JsonObject { ["properties"] = new JsonObject { ["desired"] = patch.DeepClone() } };
        var twin = await hub.UpdateTwinAsync(deviceId, body, etag, cancellationToken).ConfigureAwait(false);
        return TwinMapping.ToState(deviceId, twin);
    }
}
