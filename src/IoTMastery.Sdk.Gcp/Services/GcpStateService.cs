using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// <see cref="IDeviceStateService"/> over configs and states. Desired = the latest config version (a JSON object),
/// written as the next version with <c>versionToUpdate</c> = the version it was merged onto, so a concurrent writer
/// fails with <see cref="IoTErrorKind.PreconditionFailed"/>. The written document carries <c>$version</c> (the version
/// it will become) because the bridge sends devices the config bytes without their version.
/// Reported = the latest state the device published; its version is the state's update time in Unix milliseconds.
/// </summary>
internal sealed class GcpStateService : IDeviceStateService
{
    /// <summary>The member carrying the config version inside the desired document on the wire.</summary>
    internal const string VersionProperty = "$version";

    private readonly CloudIotClient _client;

    public GcpStateService(CloudIotClient client) => _client = client;

    public async Task<DeviceState> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        var (desired, version) = await LatestConfigAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var states = await NotFoundAsDevice(deviceId, () => _client.ListStatesAsync(deviceId, 1, cancellationToken)).ConfigureAwait(false);
        var reported = states.Count > 0 ? ParseObject(CloudIotClient.BinaryData(states[0])) : [];
        var reportedVersion = states.Count > 0 && states[0]["updateTime"]?.GetValue<string>() is { } t
            && DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at.ToUnixTimeMilliseconds() : 0;
        return new DeviceState { DeviceId = deviceId, Desired = desired, DesiredVersion = Math.Max(version, 0), Reported = reported, ReportedVersion = reportedVersion };
    }

    public async Task<DeviceState> UpdateDesiredAsync(string deviceId, JsonObject patch, long? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(patch);
        if (expectedVersion is < 1) throw new ArgumentOutOfRangeException(nameof(expectedVersion), expectedVersion, "Config versions start at 1.");
        if (patch.ContainsKey(VersionProperty)) throw new ArgumentException($"'{VersionProperty}' is reserved for the config version.", nameof(patch));
        // The core's one depth limit, before any request: a deeper config would be written and then fail every read.
        JsonLimits.Serialize(patch, 64 * 1024, "A state patch", nameof(patch));
        var (current, version) = await LatestConfigAsync(deviceId, cancellationToken).ConfigureAwait(false);
        if (version < 0)
            // Never 0 for a garbled version: versionToUpdate 0 would make the write unconditional.
            throw new IoTException(IoTErrorKind.Unknown, $"Cloud IoT sent a config of '{ErrorText.Escape(deviceId)}' without a valid version.", GoogleApiErrors.Provider, "INVALID_RESPONSE");
        if (expectedVersion is { } expected && expected != version)
            throw IoTException.PreconditionFailed($"Device '{deviceId}' desired state is at version {version}, not {expected}.", GoogleApiErrors.Provider, "FAILED_PRECONDITION", version);
        var merged = JsonMergePatch.Apply(current, patch);
        var wire = (JsonObject)merged.DeepClone();
        wire[VersionProperty] = version + 1;
        var bytes = Encoding.UTF8.GetBytes(wire.ToJsonString());
        if (bytes.Length > 64 * 1024) throw new IoTException(IoTErrorKind.PayloadTooLarge, $"The desired document is {bytes.Length} bytes; Cloud IoT configs are at most 65536.", GoogleApiErrors.Provider);
        JsonObject written;
        try
        {
            // Always guarded: the merge was computed on 'version', so a write in between must not be overwritten.
            written = await _client.ModifyCloudToDeviceConfigAsync(deviceId, bytes, version, cancellationToken).ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.ErrorCode is "FAILED_PRECONDITION" or "ABORTED")
        {
            throw IoTException.PreconditionFailed($"Device '{deviceId}' desired state changed concurrently (expected version {version}).", GoogleApiErrors.Provider, ex.ErrorCode, null, ex);
        }
        catch (IoTException ex) when (ex.IsNotFound)
        {
            throw IoTException.DeviceNotFound(deviceId, GoogleApiErrors.Provider, ex.ErrorCode, ex);
        }
        var state = await GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return state with { Desired = merged, DesiredVersion = ParseVersion(written) };
    }

    private async Task<(JsonObject Desired, long Version)> LatestConfigAsync(string deviceId, CancellationToken cancellationToken)
    {
        var configs = await NotFoundAsDevice(deviceId, () => _client.ListConfigVersionsAsync(deviceId, 1, cancellationToken)).ConfigureAwait(false);
        if (configs.Count == 0) return ([], 0);
        var desired = ParseObject(CloudIotClient.BinaryData(configs[0]));
        desired.Remove(VersionProperty);
        // -1 for a config without a valid version: unlike "no config yet" (0) it must not be written over unconditionally.
        var version = ParseVersion(configs[0]);
        return (desired, version > 0 ? version : -1);
    }

    private static long ParseVersion(JsonObject config) =>
        config["version"] is { } v && long.TryParse(v.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;

    /// <summary>A config or state as a JSON object; empty or non-object data (written by other tools) reads as empty.</summary>
    internal static JsonObject ParseObject(byte[] data)
    {
        // Strict: with JsonNode.Parse, duplicate keys or bad strings were returned and threw later in whoever read them.
        return data.Length == 0 ? [] : StrictJson.TryParseObject(data) ?? [];
    }

    private static async Task<T> NotFoundAsDevice<T>(string deviceId, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.Kind == IoTErrorKind.NotFound)
        {
            throw IoTException.DeviceNotFound(deviceId, GoogleApiErrors.Provider, ex.ErrorCode, ex);
        }
    }
}
