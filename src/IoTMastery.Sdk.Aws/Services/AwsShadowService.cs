using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Aws;

/// <summary>
/// Device shadows over the data plane, classic (name null) and named. A version mismatch is a
/// <see cref="IoTErrorKind.PreconditionFailed"/>; an unknown thing or shadow is <see cref="IoTErrorKind.NotFound"/>.
/// </summary>
public class AwsShadowService
{
    /// <summary>For mocking: a subclass in a test overrides the members it uses; the others are not usable.</summary>
    protected AwsShadowService()
    {
        _data = null!;
    }

    private const int MaxStateBytes = 8 * 1024;
    private readonly IotDataPlane _data;

    internal AwsShadowService(IotDataPlane data) => _data = data;

    /// <summary>GetThingShadow: the whole shadow document (state, metadata, version, timestamp).</summary>
    public virtual async Task<JsonObject> GetAsync(string thingName, string? shadowName = null, CancellationToken cancellationToken = default)
    {
        Validate(thingName, shadowName);
        return Parse(await _data.GetThingShadowAsync(thingName, shadowName, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// UpdateThingShadow with a request document <c>{"state":{"desired":…,"reported":…},"version":N,"clientToken":…}</c>;
    /// returns the accepted document. With a version the call is a compare-and-set and safe to retry.
    /// </summary>
    public virtual async Task<JsonObject> UpdateAsync(string thingName, JsonObject request, string? shadowName = null, CancellationToken cancellationToken = default)
    {
        Validate(thingName, shadowName);
        ArgumentNullException.ThrowIfNull(request);
        if (request["state"] is not JsonObject state)
            throw new ArgumentException("A shadow update needs a 'state' object.", nameof(request));
        if (Encoding.UTF8.GetByteCount(state.ToJsonString(AwsRequest.WireJson)) is var stateBytes && stateBytes > MaxStateBytes)
            throw new IoTException(IoTErrorKind.PayloadTooLarge, $"The shadow state is {stateBytes} bytes; AWS IoT's limit is {MaxStateBytes}.", AwsIoTProvider.ProviderName,
                "RequestEntityTooLargeException");
        if (Depth(state) > 7)
            throw new ArgumentException("Shadow state objects nest at most 6 levels under desired/reported.", nameof(request));
        if (request["clientToken"] is JsonValue token && Encoding.UTF8.GetByteCount((string?)token ?? "") > 64)
            throw new ArgumentException("clientToken is at most 64 bytes.", nameof(request));
        var versioned = request["version"] is JsonValue;
        var body = Encoding.UTF8.GetBytes(request.ToJsonString(AwsRequest.WireJson));
        return Parse(await _data.UpdateThingShadowAsync(thingName, shadowName, body, versioned, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>DeleteThingShadow; returns <c>{"version":N,"timestamp":…}</c>.</summary>
    public virtual async Task<JsonObject> DeleteAsync(string thingName, string? shadowName = null, CancellationToken cancellationToken = default)
    {
        Validate(thingName, shadowName);
        return Parse(await _data.DeleteThingShadowAsync(thingName, shadowName, cancellationToken).ConfigureAwait(false));
    }

    internal static void Validate(string thingName, string? shadowName)
    {
        DeviceIdRules.Aws.Validate(thingName, nameof(thingName));
        if (shadowName is not null && (shadowName.Length is 0 or > 64 || !shadowName.All(c => char.IsAsciiLetterOrDigit(c) || c is '$' or ':' or '_' or '-')))
            throw new ArgumentException("A shadow name is 1-64 characters of A-Z a-z 0-9 $ : _ -.", nameof(shadowName));
    }

    internal static JsonObject Parse(byte[] body)
    {
        if (body.Length == 0) return [];
        // Strict: JsonNode.Parse let duplicate keys and bad strings through, to throw untyped in whatever read them.
        if (!StrictJson.TryParse(body, out var node))
            throw new IoTException(IoTErrorKind.Unknown, "AWS IoT returned a shadow document that is not JSON.", AwsIoTProvider.ProviderName, "MalformedResponse");
        return node as JsonObject ?? [];
    }

    private static int Depth(JsonNode? node) => node switch
    {
        JsonObject o => 1 + (o.Count == 0 ? 0 : o.Max(kv => Depth(kv.Value))),
        JsonArray a => 1 + (a.Count == 0 ? 0 : a.Max(Depth)),
        _ => 0,
    };
}

/// <summary>The neutral desired/reported state over the classic shadow. One shadow version covers both sections.</summary>
internal sealed class AwsStateService(AwsShadowService shadows, IotControlPlane iot) : IDeviceStateService
{
    public async Task<DeviceState> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        JsonObject shadow;
        try
        {
            shadow = await shadows.GetAsync(deviceId, null, cancellationToken).ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.IsNotFound)
        {
            // "No shadow exists" and "no such thing" share the 404: the registry decides which.
            await iot.DescribeThingAsync(deviceId, cancellationToken).ConfigureAwait(false);
            return new DeviceState { DeviceId = deviceId };
        }
        return ToState(deviceId, shadow);
    }

    public async Task<DeviceState> UpdateDesiredAsync(string deviceId, JsonObject patch, long? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(patch);
        if (expectedVersion is < 0)
            throw new ArgumentOutOfRangeException(nameof(expectedVersion), expectedVersion, "expectedVersion must not be negative.");
        // The shadow's desired section merges like JSON merge patch: null removes a key.
        var request = new JsonObject { ["state"] = new JsonObject { ["desired"] = patch.DeepClone() } };
        if (expectedVersion is { } v) request["version"] = v;
        try
        {
            await shadows.UpdateAsync(deviceId, request, null, cancellationToken).ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.Kind == IoTErrorKind.PreconditionFailed)
        {
            var current = await GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
            throw IoTException.PreconditionFailed($"The shadow of '{deviceId}' is at version {current.DesiredVersion}, not {expectedVersion}.",
                AwsIoTProvider.ProviderName, ex.ErrorCode, current.DesiredVersion, ex);
        }
        catch (IoTException ex) when (ex.IsNotFound)
        {
            throw IoTException.DeviceNotFound(deviceId, AwsIoTProvider.ProviderName, "ResourceNotFoundException", ex);
        }
        return await GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
    }

    internal static DeviceState ToState(string deviceId, JsonObject shadow)
    {
        var version = (long?)shadow["version"] ?? 0;
        var state = shadow["state"] as JsonObject;
        return new DeviceState
        {
            DeviceId = deviceId,
            Desired = state?["desired"]?.DeepClone() as JsonObject ?? [],
            Reported = state?["reported"]?.DeepClone() as JsonObject ?? [],
            DesiredVersion = version,
            ReportedVersion = version,
        };
    }
}
