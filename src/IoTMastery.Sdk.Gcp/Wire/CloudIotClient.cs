using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Http;

namespace IoTMastery.Sdk.Gcp;

/// <summary>Where a device registry lives: <c>projects/{project}/locations/{location}/registries/{registry}</c>.</summary>
/// <param name="ProjectId">The project (also the device JWT audience).</param>
/// <param name="Location">The cloud region, for example <c>us-central1</c>.</param>
/// <param name="RegistryId">The registry id.</param>
internal sealed record CloudIotRegistryPath(string ProjectId, string Location, string RegistryId)
{
    /// <summary>The registry's resource name.</summary>
    public override string ToString() => $"projects/{ProjectId}/locations/{Location}/registries/{RegistryId}";

    /// <summary>A device's resource name, which is also its MQTT client id.</summary>
    public string Device(string deviceId) => $"{this}/devices/{deviceId}";

    /// <summary>
    /// The registry's URL path under <c>v1/</c>, each id escaped as one path segment: ids may hold '%' and '+', and
    /// sent raw <c>ab%41</c> would reach the server as <c>abA</c>. The resource name itself stays unescaped.
    /// </summary>
    internal string UrlPath => $"projects/{GoogleRestClient.Escape(ProjectId)}/locations/{GoogleRestClient.Escape(Location)}/registries/{GoogleRestClient.Escape(RegistryId)}";

    /// <summary>A device's URL path under <c>v1/</c>, escaped like <see cref="UrlPath"/>.</summary>
    internal string DeviceUrlPath(string deviceId) => $"{UrlPath}/devices/{GoogleRestClient.Escape(deviceId)}";

    internal void Validate()
    {
        PubSubNames.ValidateProject(ProjectId, nameof(ProjectId));
        if (string.IsNullOrEmpty(Location) || Location.Contains('/', StringComparison.Ordinal))
            throw new ArgumentException("Location is required and must not contain '/'.", nameof(Location));
        if (!DeviceIdRules.Gcp.IsValid(RegistryId))
            throw new ArgumentException($"Registry id '{ErrorText.Escape(RegistryId)}' breaks the rule: {DeviceIdRules.Gcp.Description}.", nameof(RegistryId));
    }
}

/// <summary>
/// The Cloud IoT Core v1 device-manager REST shape (served today by compatible vendors): devices, credentials,
/// configs, states, commands and gateway bindings, with the official retry policy per method (creates, patches
/// and binds are sent once; reads and deletes retry UNAVAILABLE/DEADLINE_EXCEEDED; config and command retry
/// also RESOURCE_EXHAUSTED). Resources are JSON objects in the v1 schema (enums as names, int64 as strings).
/// </summary>
public class CloudIotClient
{
    /// <summary>For mocking: a subclass in a test overrides the members it uses; the others are not usable, and <see cref="Registry"/> is null.</summary>
    protected CloudIotClient()
    {
        Registry = null!;
        _wire = null!;
    }

    /// <summary>Google's historical endpoint (retired in 2023; use a vendor's URL).</summary>
    public static readonly Uri DefaultBaseUrl = new("https://cloudiot.googleapis.com/");

    private readonly ICloudIotWire _wire;

    /// <summary>Creates a client for one registry on the v1 REST shape; the provider builds it from its options.</summary>
    internal CloudIotClient(HttpClient httpClient, CloudIotRegistryPath registry, Uri? baseUrl, IGcpAuthenticator authenticator, TimeProvider? timeProvider = null,
        HttpRetryBounds? retry = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        registry.Validate();
        Registry = registry;
        _wire = new CloudIotV1Wire(new GoogleRestClient(httpClient, baseUrl ?? DefaultBaseUrl, authenticator, timeProvider, retry), registry);
    }

    private CloudIotClient(CloudIotRegistryPath registry, ICloudIotWire wire)
    {
        Registry = registry;
        _wire = wire;
    }

    /// <summary>
    /// Creates a client for one registry on ClearBlade IoT Core's REST scheme: the service account's token is exchanged
    /// once for the registry's own key, token and regional host (no network call until the first operation).
    /// </summary>
    /// <exception cref="ArgumentException">The registry path or a service-account field is invalid (named in the message).</exception>
    internal static CloudIotClient ForClearBlade(HttpClient httpClient, CloudIotRegistryPath registry, ClearBladeServiceAccount serviceAccount, TimeProvider? timeProvider = null,
        HttpRetryBounds? retry = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(serviceAccount);
        registry.Validate();
        return new CloudIotClient(registry, new ClearBladeWire(httpClient, registry, serviceAccount, timeProvider, retry));
    }

    /// <summary>The registry this client manages.</summary>
    internal CloudIotRegistryPath Registry { get; }

    private static readonly KeyValuePair<string, string>[] NoQuery = [];

    private Task<JsonNode?> SendAsync(string operation, HttpMethod method, string? deviceId, IReadOnlyList<KeyValuePair<string, string>>? query, JsonNode? body, GoogleRetryPolicy policy, CancellationToken cancellationToken)
    {
        if (deviceId is not null) DeviceIdRules.Gcp.Validate(deviceId);
        return _wire.SendAsync(new CloudIotCall(operation, method, deviceId, query ?? NoQuery, body, policy), cancellationToken);
    }

    /// <summary>Creates a device from a v1 <c>Device</c> object (at least <c>id</c>).</summary>
    public virtual async Task<JsonObject> CreateDeviceAsync(JsonObject device, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(device);
        DeviceIdRules.Gcp.Validate(device["id"]?.GetValue<string>(), "device.id");
        ValidateCredentials(device["credentials"] as JsonArray);
        return (await SendAsync("CreateDevice", HttpMethod.Post, null, null, device, GoogleRetryPolicy.None, cancellationToken).ConfigureAwait(false))!.AsObject();
    }

    /// <summary>Reads a device; <paramref name="fieldMask"/> lists snake_case fields to return.</summary>
    public virtual async Task<JsonObject> GetDeviceAsync(string deviceId, string? fieldMask = null, CancellationToken cancellationToken = default)
    {
        KeyValuePair<string, string>[] query = fieldMask is null ? [] : [new("fieldMask", fieldMask)];
        return (await SendAsync("GetDevice", HttpMethod.Get, deviceId, query, null, GoogleRetryPolicy.CloudIotRead, cancellationToken).ConfigureAwait(false))!.AsObject();
    }

    /// <summary>Lists one page of devices (page size 1-500; 0 = server default).</summary>
    public virtual async Task<(IReadOnlyList<JsonObject> Devices, string? NextPageToken)> ListDevicesAsync(int pageSize = 0, string? pageToken = null,
        IReadOnlyCollection<string>? deviceIds = null, string? gatewayType = null, string? associationsGatewayId = null, string? fieldMask = null,
        CancellationToken cancellationToken = default)
    {
        if (pageSize is < 0 or > 500) throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "pageSize must be between 0 and 500.");
        if (deviceIds is { Count: > 10_000 }) throw new ArgumentException("At most 10,000 device ids per list call.", nameof(deviceIds));
        if (gatewayType is not (null or "GATEWAY" or "NON_GATEWAY")) throw new ArgumentException("gatewayType must be GATEWAY or NON_GATEWAY.", nameof(gatewayType));
        var query = new List<KeyValuePair<string, string>>();
        foreach (var id in deviceIds ?? []) { DeviceIdRules.Gcp.Validate(id, nameof(deviceIds)); query.Add(new("deviceIds", id)); }
        if (fieldMask is not null) query.Add(new("fieldMask", fieldMask));
        if (gatewayType is not null) query.Add(new("gatewayListOptions.gatewayType", gatewayType));
        if (associationsGatewayId is not null) { DeviceIdRules.Gcp.Validate(associationsGatewayId, nameof(associationsGatewayId)); query.Add(new("gatewayListOptions.associationsGatewayId", associationsGatewayId)); }
        if (pageSize > 0) query.Add(new("pageSize", pageSize.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (!string.IsNullOrEmpty(pageToken)) query.Add(new("pageToken", pageToken));
        var response = await SendAsync("ListDevices", HttpMethod.Get, null, query, null, GoogleRetryPolicy.CloudIotRead, cancellationToken).ConfigureAwait(false);
        var devices = (response?["devices"] as JsonArray)?.Select(d => d!.AsObject()).ToArray() ?? [];
        var next = response?["nextPageToken"]?.GetValue<string>();
        return (devices, string.IsNullOrEmpty(next) ? null : next);
    }

    /// <summary>Patches the fields named by <paramref name="updateMask"/> (snake_case: <c>credentials</c>, <c>blocked</c>, <c>metadata</c>, <c>log_level</c>).</summary>
    public virtual async Task<JsonObject> PatchDeviceAsync(string deviceId, JsonObject device, string updateMask, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentException.ThrowIfNullOrEmpty(updateMask);
        foreach (var field in updateMask.Split(','))
            if (field is not ("credentials" or "blocked" or "metadata" or "log_level" or "gateway_config.gateway_auth_method"))
                throw new ArgumentException($"'{field}' is not a mutable device field (credentials, blocked, metadata, log_level, gateway_config.gateway_auth_method).", nameof(updateMask));
        ValidateCredentials(device["credentials"] as JsonArray);
        return (await SendAsync("PatchDevice", HttpMethod.Patch, deviceId, [new("updateMask", updateMask)], device, GoogleRetryPolicy.None, cancellationToken).ConfigureAwait(false))!.AsObject();
    }

    /// <summary>Blocks or unblocks a device's connections.</summary>
    public virtual Task<JsonObject> SetBlockedAsync(string deviceId, bool blocked, CancellationToken cancellationToken = default) =>
        PatchDeviceAsync(deviceId, new JsonObject { ["blocked"] = blocked }, "blocked", cancellationToken);

    /// <summary>Deletes a device.</summary>
    public virtual async Task DeleteDeviceAsync(string deviceId, CancellationToken cancellationToken = default) =>
        await SendAsync("DeleteDevice", HttpMethod.Delete, deviceId, null, null, GoogleRetryPolicy.CloudIotRead, cancellationToken).ConfigureAwait(false);

    /// <summary>Writes a new config version (≤ 64 KB); <paramref name="versionToUpdate"/> 0 is unconditional, otherwise it must be current.</summary>
    public virtual async Task<JsonObject> ModifyCloudToDeviceConfigAsync(string deviceId, ReadOnlyMemory<byte> data, long versionToUpdate = 0, CancellationToken cancellationToken = default)
    {
        if (data.IsEmpty) throw new ArgumentException("Config data is required.", nameof(data));
        if (data.Length > 64 * 1024) throw new ArgumentException($"Device configs are at most 65536 bytes; got {data.Length}.", nameof(data));
        if (versionToUpdate < 0) throw new ArgumentOutOfRangeException(nameof(versionToUpdate), versionToUpdate, "versionToUpdate must not be negative.");
        var body = new JsonObject { ["versionToUpdate"] = versionToUpdate.ToString(System.Globalization.CultureInfo.InvariantCulture), ["binaryData"] = Convert.ToBase64String(data.Span) };
        return (await SendAsync("ModifyCloudToDeviceConfig", HttpMethod.Post, deviceId, null, body, GoogleRetryPolicy.CloudIotDeviceMessage, cancellationToken).ConfigureAwait(false))!.AsObject();
    }

    /// <summary>The last <paramref name="numVersions"/> configs, newest first (at most 10 are kept).</summary>
    public virtual async Task<IReadOnlyList<JsonObject>> ListConfigVersionsAsync(string deviceId, int numVersions = 0, CancellationToken cancellationToken = default)
    {
        if (numVersions is < 0 or > 10) throw new ArgumentOutOfRangeException(nameof(numVersions), numVersions, "numVersions must be between 0 and 10.");
        var response = await SendAsync("ListDeviceConfigVersions", HttpMethod.Get, deviceId, Count("numVersions", numVersions), null, GoogleRetryPolicy.CloudIotRead, cancellationToken).ConfigureAwait(false);
        return (response?["deviceConfigs"] as JsonArray)?.Select(c => c!.AsObject()).ToArray() ?? [];
    }

    /// <summary>The last <paramref name="numStates"/> reported states, newest first (at most 10 are kept).</summary>
    public virtual async Task<IReadOnlyList<JsonObject>> ListStatesAsync(string deviceId, int numStates = 0, CancellationToken cancellationToken = default)
    {
        if (numStates is < 0 or > 10) throw new ArgumentOutOfRangeException(nameof(numStates), numStates, "numStates must be between 0 and 10.");
        var response = await SendAsync("ListDeviceStates", HttpMethod.Get, deviceId, Count("numStates", numStates), null, GoogleRetryPolicy.CloudIotRead, cancellationToken).ConfigureAwait(false);
        return (response?["deviceStates"] as JsonArray)?.Select(c => c!.AsObject()).ToArray() ?? [];
    }

    /// <summary>Sends a command to a connected device, optionally under a subfolder (≤ 256 characters, no <c>+ # NUL</c>).</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceOffline"/>: The device is not connected or not subscribed to commands (FAILED_PRECONDITION).</exception>
    public virtual async Task SendCommandToDeviceAsync(string deviceId, ReadOnlyMemory<byte> data, string? subfolder = null, CancellationToken cancellationToken = default)
    {
        if (data.IsEmpty) throw new ArgumentException("Command data is required.", nameof(data));
        if (data.Length > 256 * 1024) throw new ArgumentException($"Commands are at most 262144 bytes; got {data.Length}.", nameof(data));
        if (subfolder is not null && (subfolder.Length is 0 or > 256 || subfolder.AsSpan().IndexOfAny("+#\0") >= 0 || subfolder.StartsWith('/')))
            throw new ArgumentException("A subfolder is 1-256 characters without '+', '#', NUL or a leading '/'.", nameof(subfolder));
        var body = new JsonObject { ["binaryData"] = Convert.ToBase64String(data.Span) };
        if (subfolder is not null) body["subfolder"] = subfolder;
        try
        {
            await SendAsync("SendCommandToDevice", HttpMethod.Post, deviceId, null, body, GoogleRetryPolicy.CloudIotDeviceMessage, cancellationToken).ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.ErrorCode == "FAILED_PRECONDITION")
        {
            throw IoTException.DeviceOffline(deviceId, GoogleApiErrors.Provider, ex.ErrorCode).WithResponse(ex.RequestId, ex.HttpStatus);
        }
    }

    /// <summary>Binds a device to a gateway.</summary>
    public virtual Task BindDeviceToGatewayAsync(string gatewayId, string deviceId, CancellationToken cancellationToken = default) =>
        GatewayAsync("bindDeviceToGateway", gatewayId, deviceId, cancellationToken);

    /// <summary>Unbinds a device from a gateway.</summary>
    public virtual Task UnbindDeviceFromGatewayAsync(string gatewayId, string deviceId, CancellationToken cancellationToken = default) =>
        GatewayAsync("unbindDeviceFromGateway", gatewayId, deviceId, cancellationToken);

    private async Task GatewayAsync(string method, string gatewayId, string deviceId, CancellationToken cancellationToken)
    {
        DeviceIdRules.Gcp.Validate(gatewayId, nameof(gatewayId));
        DeviceIdRules.Gcp.Validate(deviceId, nameof(deviceId));
        await SendAsync(method, HttpMethod.Post, null, null, new JsonObject { ["gatewayId"] = gatewayId, ["deviceId"] = deviceId }, GoogleRetryPolicy.None, cancellationToken).ConfigureAwait(false);
    }

    private static KeyValuePair<string, string>[] Count(string name, int count) =>
        count > 0 ? [new(name, count.ToString(System.Globalization.CultureInfo.InvariantCulture))] : [];

    /// <summary>Builds a public-key credential entry (ES256_PEM or RSA_PEM) with an optional expiry.</summary>
    internal static JsonObject PublicKeyCredential(string publicKeyPem, string format, DateTimeOffset? expiresAt)
    {
        var credential = new JsonObject { ["publicKey"] = new JsonObject { ["format"] = format, ["key"] = publicKeyPem } };
        if (expiresAt is { } e) credential["expirationTime"] = e.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        return credential;
    }

    private static void ValidateCredentials(JsonArray? credentials)
    {
        if (credentials is null) return;
        if (credentials.Count > 3) throw new ArgumentException($"A device holds at most 3 credentials; got {credentials.Count}.", "credentials");
        foreach (var c in credentials)
        {
            var format = c?["publicKey"]?["format"]?.GetValue<string>();
            if (format is not ("ES256_PEM" or "RSA_PEM" or "ES256_X509_PEM" or "RSA_X509_PEM"))
                throw new ArgumentException($"Credential format '{format}' is not one of ES256_PEM, RSA_PEM, ES256_X509_PEM, RSA_X509_PEM.", "credentials");
            if (c?["publicKey"]?["key"]?.GetValue<string>() is not { Length: > 0 } key || !key.Contains("-----BEGIN", StringComparison.Ordinal))
                throw new ArgumentException("A credential needs a PEM key.", "credentials");
        }
    }

    /// <summary>Decodes a config's or state's <c>binaryData</c>.</summary>
    /// <exception cref="FormatException">binaryData is not a base64 string, or the object is malformed (duplicate keys, invalid UTF-8).</exception>
    internal static byte[] BinaryData(JsonObject configOrState)
    {
        try
        {
            return configOrState["binaryData"]?.GetValue<string>() is { Length: > 0 } b ? Convert.FromBase64String(b) : [];
        }
        // A wrong-typed binaryData (InvalidOperationException) or a duplicate key (ArgumentException) is a malformed response.
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            throw new FormatException("The Cloud IoT config/state has a malformed binaryData: " + ex.Message, ex);
        }
    }

    internal static string Utf8(JsonObject configOrState) => Encoding.UTF8.GetString(BinaryData(configOrState));
}
