using System.Net;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Http;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// ClearBlade IoT Core's REST scheme, as <c>@clearblade/iot</c> 1.0.6 speaks it. The first call asks the admin host
/// for the registry's own credentials (<c>POST /api/v/1/code/{systemKey}/getRegistryCredentials</c>); registry calls
/// then go to the regional host under <c>/api/v/4/webhook/execute/{registrySystemKey}/…</c> with the registry token.
/// Resource names travel in the query. Unlike the official client, every query value is percent-encoded, bodies are
/// sent with their UTF-8 length, and list paging keeps page size and filters (see ClearBladeConformanceTests).
/// </summary>
internal sealed class ClearBladeWire : ICloudIotWire
{
    internal const string TokenHeader = "ClearBlade-UserToken";

    private readonly HttpClient _http;
    private readonly CloudIotRegistryPath _registry;
    private readonly ClearBladeServiceAccount _account;
    private readonly TimeProvider? _time;
    private readonly HttpRetryBounds? _retry;
    private readonly GoogleRestClient _admin;
    private readonly SemaphoreSlim _exchangeGate = new(1, 1);
    private volatile RegionalEndpoint? _regional;

    private sealed record RegionalEndpoint(string SystemKey, GoogleRestClient Rest);

    public ClearBladeWire(HttpClient http, CloudIotRegistryPath registry, ClearBladeServiceAccount account, TimeProvider? time, HttpRetryBounds? retry = null)
    {
        account.Validate();
        _http = http;
        _registry = registry;
        _account = account;
        _time = time;
        _retry = retry;
        _admin = new GoogleRestClient(http, account.Url!, new VendorTokenAuthenticator(TokenHeader, _ => ValueTask.FromResult(account.Token)), time, retry);
    }

    public async Task<JsonNode?> SendAsync(CloudIotCall call, CancellationToken cancellationToken)
    {
        var regional = await RegionalAsync(cancellationToken).ConfigureAwait(false);
        var query = new List<KeyValuePair<string, string>>();
        JsonNode? body = call.Body;
        string resource = "cloudiot_devices";
        var deviceName = call.DeviceId is null ? null : _registry.Device(call.DeviceId);
        switch (call.Operation)
        {
            case "CreateDevice":
                break;
            case "ListDevices":
                query.Add(new("parent", _registry.ToString()));
                // The official client also sends the parent as a GET body; the server may read it from there.
                body = new JsonObject { ["parent"] = _registry.ToString() };
                break;
            case "GetDevice" or "DeleteDevice":
                query.Add(new("name", deviceName!));
                break;
            case "PatchDevice":
                query.Add(new("name", deviceName!));
                // The official client sends the device with its name (it routes by it); so do we.
                var device = call.Body!.DeepClone().AsObject();
                device["name"] = deviceName;
                body = device;
                break;
            case "ModifyCloudToDeviceConfig":
                // These four carry the bare device id, not the full name, as the official client does.
                query.Add(new("name", call.DeviceId!));
                query.Add(new("method", "modifyCloudToDeviceConfig"));
                break;
            case "SendCommandToDevice":
                query.Add(new("method", "sendCommandToDevice"));
                query.Add(new("name", call.DeviceId!));
                break;
            case "ListDeviceConfigVersions":
                resource = "cloudiot_devices_configVersions";
                query.Add(new("name", call.DeviceId!));
                // The official client always names the count; 10 is "all" (at most 10 are kept).
                if (!call.Query.Any(p => p.Key == "numVersions")) query.Add(new("numVersions", "10"));
                break;
            case "ListDeviceStates":
                resource = "cloudiot_devices_states";
                query.Add(new("name", call.DeviceId!));
                if (!call.Query.Any(p => p.Key == "numStates")) query.Add(new("numStates", "10"));
                break;
            case "bindDeviceToGateway" or "unbindDeviceFromGateway":
                resource = "cloudiot";
                query.Add(new("method", call.Operation));
                break;
            default:
                throw new InvalidOperationException("Unknown Cloud IoT operation " + call.Operation);
        }
        query.AddRange(call.Query);
        var path = $"api/v/4/webhook/execute/{GoogleRestClient.Escape(regional.SystemKey)}/{resource}" + CloudIotV1Wire.QueryString(query, '?');
        return await regional.Rest.SendAsync(call.Operation, call.Method, path, body, call.Policy, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The registry's key, token and regional host, fetched once; a failed exchange is not cached.</summary>
    private async ValueTask<RegionalEndpoint> RegionalAsync(CancellationToken cancellationToken)
    {
        if (_regional is { } cached) return cached;
        await _exchangeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_regional is { } raced) return raced;
            var request = new JsonObject { ["region"] = _registry.Location, ["registry"] = _registry.RegistryId, ["project"] = _account.Project };
            // A POST, but it only reads the registry's credentials, so it is retried like a read.
            var answer = await _admin.SendAsync("getRegistryCredentials", HttpMethod.Post, $"api/v/1/code/{GoogleRestClient.Escape(_account.SystemKey)}/getRegistryCredentials",
                request, GoogleRetryPolicy.CloudIotRead, cancellationToken).ConfigureAwait(false);
            string? Field(string name) => answer is JsonObject o && o[name] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;
            var systemKey = Field("systemKey");
            var token = Field("serviceAccountToken");
            var url = Field("url");
            if (systemKey is null || token is null || url is null)
                throw new IoTException(IoTErrorKind.Unknown, "getRegistryCredentials failed: the answer lacks systemKey, serviceAccountToken or url.", GoogleApiErrors.Provider, "INVALID_RESPONSE", isTransient: false);
            if (!Uri.TryCreate(url, UriKind.Absolute, out var regionalUrl) || !IsAllowed(regionalUrl))
                throw new IoTException(IoTErrorKind.Unknown, "getRegistryCredentials failed: the regional url is not an https URL.", GoogleApiErrors.Provider, "INVALID_RESPONSE", isTransient: false);
            // Only the scheme and host count, as for the official client (it uses the URL's host alone).
            var root = new Uri(regionalUrl.GetLeftPart(UriPartial.Authority) + "/");
            var endpoint = new RegionalEndpoint(systemKey, new GoogleRestClient(_http, root, new VendorTokenAuthenticator(TokenHeader, _ => ValueTask.FromResult(token)), _time, _retry));
            _regional = endpoint;
            return endpoint;
        }
        finally
        {
            _exchangeGate.Release();
        }
    }

    /// <summary>Tokens travel only over https, or plain http to this machine (tests, a local proxy).</summary>
    internal static bool IsAllowed(Uri url) =>
        url.Scheme == Uri.UriSchemeHttps ||
        (url.Scheme == Uri.UriSchemeHttp && (url.IsLoopback || (IPAddress.TryParse(url.Host, out var ip) && IPAddress.IsLoopback(ip))));
}
