using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.CloudDoubles.CloudIot;

/// <summary>
/// The ClearBlade service account the double accepts, and the registry it serves under ClearBlade's scheme. The
/// registry's own system key and token are what getRegistryCredentials hands out.
/// </summary>
public sealed record ClearBladeDoubleAccount(string AdminSystemKey, string AdminToken, string Project, string Location, string RegistryId)
{
    public string RegistrySystemKey { get; init; } = "registry-key-" + Guid.NewGuid().ToString("N")[..12];

    public string RegistryToken { get; init; } = "registry-token-" + Guid.NewGuid().ToString("N");

    public string RegistryName => $"projects/{Project}/locations/{Location}/registries/{RegistryId}";
}

/// <summary>
/// An in-memory Cloud IoT Core v1 device-manager REST server on loopback: the test double for the
/// vendor registry (no vendor runs offline). The official @google-cloud/iot client drives it first
/// (CloudIotConformanceTests) so its shape is the official client's, not ours. Enums arrive as names
/// or, from the GAPIC REST client, as integers; both are stored as names.
/// </summary>
public sealed class CloudIotRegistryDouble : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, DeviceRecord> _devices = new(StringComparer.Ordinal);
    private readonly HashSet<(string Gateway, string Device)> _bindings = [];
    private long _nextNumId = 2_000_000_000_001;
    private readonly TimeProvider _time;

    public CloudIotRegistryDouble(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        Server = new LoopbackHttpServer(Handle);
    }

    public LoopbackHttpServer Server { get; }

    /// <summary>When set, the double also serves ClearBlade IoT Core's scheme for this account (driven first by @clearblade/iot).</summary>
    public ClearBladeDoubleAccount? ClearBlade { get; init; }

    /// <summary>Delivers a command to the device; false means "not connected/subscribed" (FAILED_PRECONDITION).</summary>
    public Func<string, string?, byte[], bool>? CommandSink { get; set; }

    /// <summary>Called with each new config version, as the bridge would push it to the device.</summary>
    public Action<string, long, byte[]>? ConfigSink { get; set; }

    /// <summary>
    /// Awaited after a device write (patch of blocked or credentials, delete) succeeded and before the response is sent, so a
    /// bridge can end the sessions the write revoked by the time the caller sees the answer.
    /// </summary>
    public Func<Task>? DevicesChanged { get; set; }

    private sealed class DeviceRecord
    {
        public required JsonObject Device;
        public readonly List<JsonObject> Configs = [];
        public readonly List<JsonObject> States = [];
    }

    /// <summary>Stores a state the device reported over the bridge.</summary>
    public void ReportState(string deviceId, byte[] data)
    {
        lock (_gate)
        {
            if (!_devices.TryGetValue(deviceId, out var record)) return;
            var state = new JsonObject { ["updateTime"] = Now(), ["binaryData"] = Convert.ToBase64String(data) };
            record.States.Insert(0, state);
            if (record.States.Count > 10) record.States.RemoveAt(10);
            record.Device["state"] = state.DeepClone();
            record.Device["lastStateTime"] = state["updateTime"]!.DeepClone();
        }
    }

    /// <summary>
    /// Stamps one of the device's activity times as Cloud IoT Core's bridge did: <c>lastHeartbeatTime</c> on an MQTT PINGREQ,
    /// <c>lastEventTime</c> on a telemetry event (<c>lastStateTime</c> is <see cref="ReportState"/>'s).
    /// </summary>
    public void RecordActivity(string deviceId, string field)
    {
        if (field is not ("lastHeartbeatTime" or "lastEventTime")) throw new ArgumentException("lastHeartbeatTime or lastEventTime.", nameof(field));
        lock (_gate)
            if (_devices.TryGetValue(deviceId, out var record)) record.Device[field] = Now();
    }

    /// <summary>Records the device's most recent error (<c>lastErrorTime</c>, <c>lastErrorStatus</c> as a google.rpc.Status).</summary>
    public void RecordError(string deviceId, int code, string message)
    {
        lock (_gate)
        {
            if (!_devices.TryGetValue(deviceId, out var record)) return;
            record.Device["lastErrorTime"] = Now();
            record.Device["lastErrorStatus"] = new JsonObject { ["code"] = code, ["message"] = message };
        }
    }

    /// <summary>Records the device's PUBACK of the config the bridge last sent: <c>lastConfigAckTime</c> and that config's <c>deviceAckTime</c>.</summary>
    public void RecordConfigAck(string deviceId)
    {
        lock (_gate)
        {
            if (!_devices.TryGetValue(deviceId, out var record)) return;
            var now = Now();
            record.Device["lastConfigAckTime"] = now;
            if (record.Configs.Count > 0) record.Configs[0]["deviceAckTime"] = now;
        }
    }

    /// <summary>Records the device's PUBACK of a config version (deviceAckTime).</summary>
    public void AckConfig(string deviceId, long version)
    {
        lock (_gate)
        {
            if (!_devices.TryGetValue(deviceId, out var record)) return;
            foreach (var c in record.Configs.Where(c => c["version"]!.GetValue<string>() == version.ToString(CultureInfo.InvariantCulture))) c["deviceAckTime"] = Now();
        }
    }

    /// <summary>Whether the device is blocked (the bridge refuses it).</summary>
    public bool IsBlocked(string deviceId)
    {
        lock (_gate) return _devices.TryGetValue(deviceId, out var r) && r.Device["blocked"]?.GetValue<bool>() == true;
    }

    /// <summary>The public keys registered for a device (for the bridge's JWT check).</summary>
    public IReadOnlyList<(string Format, string Key)> PublicKeys(string deviceId)
    {
        lock (_gate)
        {
            if (!_devices.TryGetValue(deviceId, out var r) || r.Device["credentials"] is not JsonArray creds) return [];
            return creds.Select(c => (c!["publicKey"]!["format"]!.GetValue<string>(), c["publicKey"]!["key"]!.GetValue<string>())).ToArray();
        }
    }

    private string Now() => _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static CannedResponse Error(int code, string status, string message) =>
        new(code, new JsonObject { ["error"] = new JsonObject { ["code"] = code, ["message"] = message, ["status"] = status } }.ToJsonString());

    private static CannedResponse Ok(JsonNode body) => new(200, body.ToJsonString());

    private CannedResponse Handle(CapturedRequest request)
    {
        var response = HandleCore(request);
        var writesDevice = request.Method is "PATCH" or "DELETE";
        if (writesDevice && response.Status == 200 && DevicesChanged is { } changed) changed().GetAwaiter().GetResult();
        return response;
    }

    private CannedResponse HandleCore(CapturedRequest request)
    {
        var query = ParseQuery(request.Query);
        if (ClearBlade is { } account && request.Path.StartsWith("/api/", StringComparison.Ordinal)) return HandleClearBlade(account, request, query);
        if (!request.Path.StartsWith("/v1/projects/", StringComparison.Ordinal)) return Error(404, "NOT_FOUND", "Unknown path.");
        // Split the raw path (on '/' and a custom method's ':'), then decode each id, as a server does: an escaped '/' or
        // ':' inside an id is not a separator, and "%2541" is the id "%41", not "A". Literal segments need no decoding.
        var segments = request.Path["/v1/".Length..].Split('/');
        // projects/{p}/locations/{l}/registries/{r}[...]
        if (segments.Length < 6 || segments[2] != "locations" || !segments[4].StartsWith("registries", StringComparison.Ordinal))
            return Error(404, "NOT_FOUND", "Unknown path.");
        var registryName = string.Join('/', segments.Take(6).Select(segment => Uri.UnescapeDataString(segment.Split(':')[0])));
        var body = string.IsNullOrEmpty(request.Body) ? null : JsonNode.Parse(request.Body)?.AsObject();
        lock (_gate)
        {
            if (segments.Length == 6 && segments[5].Contains(':', StringComparison.Ordinal))
            {
                var method = segments[5][(segments[5].IndexOf(':') + 1)..];
                return method switch
                {
                    "bindDeviceToGateway" => Bind(body!, bind: true),
                    "unbindDeviceFromGateway" => Bind(body!, bind: false),
                    _ => Error(404, "NOT_FOUND", "Unknown method."),
                };
            }
            if (segments.Length == 7 && segments[6] == "devices")
            {
                return request.Method switch
                {
                    "POST" => Create(registryName, body!),
                    "GET" => List(query),
                    _ => Error(405, "UNIMPLEMENTED", "Method not allowed."),
                };
            }
            if (segments.Length >= 8 && segments[6] == "devices")
            {
                var idAndMethod = segments[7].Split(':');
                idAndMethod[0] = Uri.UnescapeDataString(idAndMethod[0]);
                var record = Find(idAndMethod[0]);
                if (record is null) return Error(404, "NOT_FOUND", $"Device {idAndMethod[0]} not found.");
                if (segments.Length == 9)
                    return segments[8] switch
                    {
                        "configVersions" => Ok(new JsonObject { ["deviceConfigs"] = new JsonArray(record.Configs.Take(Num(query, "numVersions")).Select(c => (JsonNode)c.DeepClone()).ToArray()) }),
                        "states" => Ok(new JsonObject { ["deviceStates"] = new JsonArray(record.States.Take(Num(query, "numStates")).Select(c => (JsonNode)c.DeepClone()).ToArray()) }),
                        _ => Error(404, "NOT_FOUND", "Unknown collection."),
                    };
                if (idAndMethod.Length == 2)
                    return idAndMethod[1] switch
                    {
                        "modifyCloudToDeviceConfig" => ModifyConfig(record, body!),
                        "sendCommandToDevice" => SendCommand(record, body!),
                        _ => Error(404, "NOT_FOUND", "Unknown method."),
                    };
                return request.Method switch
                {
                    "GET" => Ok(record.Device.DeepClone()),
                    "PATCH" => Patch(record, body!, query.GetValueOrDefault("updateMask")?.FirstOrDefault() ?? ""),
                    "DELETE" => Delete(record),
                    _ => Error(405, "UNIMPLEMENTED", "Method not allowed."),
                };
            }
        }
        return Error(404, "NOT_FOUND", "Unknown path.");
    }

    /// <summary>
    /// ClearBlade IoT Core's scheme, as @clearblade/iot speaks it: the admin token buys the registry's key, token and
    /// regional URL; registry calls go to /api/v/4/webhook/execute/{registryKey}/{resource} with the name in the query.
    /// Every route reuses the v1 handlers, so both schemes share one store.
    /// </summary>
    private CannedResponse HandleClearBlade(ClearBladeDoubleAccount account, CapturedRequest request, Dictionary<string, List<string>> query)
    {
        var token = request.Headers.GetValueOrDefault("clearblade-usertoken");
        var body = string.IsNullOrEmpty(request.Body) ? null : JsonNode.Parse(request.Body)?.AsObject();
        if (request.Path == $"/api/v/1/code/{account.AdminSystemKey}/getRegistryCredentials" && request.Method == "POST")
        {
            if (token != account.AdminToken) return Error(401, "UNAUTHENTICATED", "Invalid user token.");
            if (body?["project"]?.GetValue<string>() != account.Project || body["region"]?.GetValue<string>() != account.Location || body["registry"]?.GetValue<string>() != account.RegistryId)
                return Error(404, "NOT_FOUND", "No such registry.");
            return Ok(new JsonObject { ["systemKey"] = account.RegistrySystemKey, ["serviceAccountToken"] = account.RegistryToken, ["url"] = Server.BaseUrl.AbsoluteUri.TrimEnd('/') });
        }
        var prefix = $"/api/v/4/webhook/execute/{account.RegistrySystemKey}/";
        if (!request.Path.StartsWith(prefix, StringComparison.Ordinal)) return Error(404, "NOT_FOUND", "Unknown path.");
        if (token != account.RegistryToken) return Error(401, "UNAUTHENTICATED", "Invalid user token.");
        var resource = request.Path[prefix.Length..];
        var method = query.GetValueOrDefault("method")?.FirstOrDefault();
        lock (_gate)
        {
            if (resource == "cloudiot" && request.Method == "POST")
                return method switch
                {
                    "bindDeviceToGateway" => Bind(body!, bind: true),
                    "unbindDeviceFromGateway" => Bind(body!, bind: false),
                    _ => Error(404, "NOT_FOUND", "Unknown method."),
                };
            if (resource == "cloudiot_devices" && request.Method == "POST" && method is null) return Create(account.RegistryName, body!);
            if (resource == "cloudiot_devices" && request.Method == "GET" && !query.ContainsKey("name"))
                return query.GetValueOrDefault("parent")?.FirstOrDefault() == account.RegistryName ? List(query) : Error(404, "NOT_FOUND", "No such registry.");
            // A full device name must be in this registry; some calls send only the device id.
            var name = query.GetValueOrDefault("name")?.FirstOrDefault() ?? "";
            var marker = name.LastIndexOf("/devices/", StringComparison.Ordinal);
            if (marker >= 0 && name[..marker] != account.RegistryName) return Error(404, "NOT_FOUND", "No such registry.");
            var id = marker >= 0 ? name[(marker + "/devices/".Length)..] : name;
            var record = Find(id);
            if (record is null) return Error(404, "NOT_FOUND", $"Device {id} not found.");
            return (resource, request.Method, method) switch
            {
                ("cloudiot_devices", "POST", "modifyCloudToDeviceConfig") => ModifyConfig(record, body!),
                ("cloudiot_devices", "POST", "sendCommandToDevice") => SendCommand(record, body!),
                ("cloudiot_devices", "GET", null) => Ok(record.Device.DeepClone()),
                ("cloudiot_devices", "PATCH", null) => Patch(record, body!, query.GetValueOrDefault("updateMask")?.FirstOrDefault() ?? ""),
                ("cloudiot_devices", "DELETE", null) => Delete(record),
                ("cloudiot_devices_configVersions", "GET", null) => Ok(new JsonObject { ["deviceConfigs"] = new JsonArray(record.Configs.Take(Num(query, "numVersions")).Select(c => (JsonNode)c.DeepClone()).ToArray()) }),
                ("cloudiot_devices_states", "GET", null) => Ok(new JsonObject { ["deviceStates"] = new JsonArray(record.States.Take(Num(query, "numStates")).Select(c => (JsonNode)c.DeepClone()).ToArray()) }),
                _ => Error(404, "NOT_FOUND", "Unknown route."),
            };
        }
    }

    private static int Num(Dictionary<string, List<string>> query, string name) =>
        query.TryGetValue(name, out var v) && int.TryParse(v[0], CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 10;

    private DeviceRecord? Find(string idOrNumId) =>
        _devices.TryGetValue(idOrNumId, out var r) ? r : _devices.Values.FirstOrDefault(d => d.Device["numId"]!.GetValue<string>() == idOrNumId);

    private CannedResponse Create(string registryName, JsonObject device)
    {
        var id = device["id"]?.GetValue<string>();
        if (!DeviceIdRules.Gcp.IsValid(id)) return Error(400, "INVALID_ARGUMENT", "Invalid device id.");
        if (_devices.ContainsKey(id!)) return Error(409, "ALREADY_EXISTS", $"Device {id} already exists.");
        if (device["credentials"] is JsonArray { Count: > 3 }) return Error(400, "INVALID_ARGUMENT", "At most 3 credentials.");
        var normalized = Normalize(device);
        var numId = (_nextNumId++).ToString(CultureInfo.InvariantCulture);
        normalized["numId"] = numId;
        normalized["name"] = $"{registryName}/devices/{numId}";
        normalized["blocked"] ??= false;
        normalized["metadata"] ??= new JsonObject();
        normalized["gatewayConfig"] ??= new JsonObject { ["gatewayType"] = "NON_GATEWAY" };
        var record = new DeviceRecord { Device = normalized };
        var config = new JsonObject { ["version"] = "1", ["cloudUpdateTime"] = Now(), ["binaryData"] = "" };
        record.Configs.Add(config);
        normalized["config"] = config.DeepClone();
        _devices[id!] = record;
        return Ok(normalized.DeepClone());
    }

    private CannedResponse List(Dictionary<string, List<string>> query)
    {
        IEnumerable<JsonObject> devices = _devices.Values.Select(r => r.Device).OrderBy(d => d["id"]!.GetValue<string>(), StringComparer.Ordinal);
        if (query.TryGetValue("deviceIds", out var ids)) devices = devices.Where(d => ids.Contains(d["id"]!.GetValue<string>()));
        if (query.TryGetValue("gatewayListOptions.associationsGatewayId", out var gw))
            devices = devices.Where(d => _bindings.Contains((gw[0], d["id"]!.GetValue<string>())));
        if (query.TryGetValue("gatewayListOptions.gatewayType", out var type))
        {
            var wanted = EnumName(type[0], GatewayTypes);
            devices = devices.Where(d => d["gatewayConfig"]?["gatewayType"]?.GetValue<string>() == wanted);
        }
        var all = devices.ToList();
        var size = query.TryGetValue("pageSize", out var ps) && int.Parse(ps[0], CultureInfo.InvariantCulture) > 0 ? int.Parse(ps[0], CultureInfo.InvariantCulture) : 100;
        var offset = query.TryGetValue("pageToken", out var pt) && pt[0].StartsWith("o", StringComparison.Ordinal) ? int.Parse(pt[0][1..], CultureInfo.InvariantCulture) : 0;
        var mask = query.TryGetValue("fieldMask", out var fm) ? fm[0].Split(',') : [];
        var page = all.Skip(offset).Take(size).Select(d => (JsonNode)Summary(d, mask)).ToArray();
        var result = new JsonObject { ["devices"] = new JsonArray(page) };
        if (offset + size < all.Count) result["nextPageToken"] = "o" + (offset + size).ToString(CultureInfo.InvariantCulture);
        return Ok(result);
    }

    // The real list returns only id, name and numId unless a field mask asks for more; metadata and blocked are useful here.
    private static JsonObject Summary(JsonObject d, string[] mask)
    {
        var summary = new JsonObject
        {
            ["id"] = d["id"]!.DeepClone(), ["name"] = d["name"]!.DeepClone(), ["numId"] = d["numId"]!.DeepClone(),
            ["blocked"] = d["blocked"]?.DeepClone(), ["metadata"] = d["metadata"]?.DeepClone(),
        };
        // The presence times, only when the mask names them (snake_case paths, as the v1 API takes them).
        foreach (var (path, field) in PresenceFields)
            if (mask.Contains(path) && d[field] is { } value) summary[field] = value.DeepClone();
        return summary;
    }

    private static readonly (string Path, string Field)[] PresenceFields =
    [
        ("last_heartbeat_time", "lastHeartbeatTime"), ("last_event_time", "lastEventTime"), ("last_state_time", "lastStateTime"),
        ("last_config_ack_time", "lastConfigAckTime"), ("last_error_time", "lastErrorTime"), ("last_error_status", "lastErrorStatus"),
    ];

    private static CannedResponse Patch(DeviceRecord record, JsonObject body, string mask)
    {
        var normalized = Normalize(body);
        foreach (var field in mask.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            switch (field)
            {
                case "blocked": record.Device["blocked"] = normalized["blocked"]?.DeepClone() ?? false; break;
                case "metadata": record.Device["metadata"] = normalized["metadata"]?.DeepClone() ?? new JsonObject(); break;
                case "credentials":
                    if (normalized["credentials"] is JsonArray { Count: > 3 }) return Error(400, "INVALID_ARGUMENT", "At most 3 credentials.");
                    record.Device["credentials"] = normalized["credentials"]?.DeepClone() ?? new JsonArray();
                    break;
                case "log_level": record.Device["logLevel"] = normalized["logLevel"]?.DeepClone(); break;
                default: return Error(400, "INVALID_ARGUMENT", $"Field {field} is not mutable.");
            }
        }
        return Ok(record.Device.DeepClone());
    }

    private CannedResponse Delete(DeviceRecord record)
    {
        var id = record.Device["id"]!.GetValue<string>();
        _devices.Remove(id);
        _bindings.RemoveWhere(b => b.Device == id || b.Gateway == id);
        return Ok(new JsonObject());
    }

    private CannedResponse ModifyConfig(DeviceRecord record, JsonObject body)
    {
        var current = long.Parse(record.Configs[0]["version"]!.GetValue<string>(), CultureInfo.InvariantCulture);
        var expected = body["versionToUpdate"] is { } v ? long.Parse(v.ToString(), CultureInfo.InvariantCulture) : 0;
        if (expected != 0 && expected != current)
            return Error(400, "FAILED_PRECONDITION", $"The config version to update ({expected}) is not the current version ({current}).");
        var data = body["binaryData"]?.GetValue<string>();
        if (string.IsNullOrEmpty(data)) return Error(400, "INVALID_ARGUMENT", "binaryData is required.");
        var config = new JsonObject { ["version"] = (current + 1).ToString(CultureInfo.InvariantCulture), ["cloudUpdateTime"] = Now(), ["binaryData"] = data };
        record.Configs.Insert(0, config);
        if (record.Configs.Count > 10) record.Configs.RemoveAt(10);
        record.Device["config"] = config.DeepClone();
        ConfigSink?.Invoke(record.Device["id"]!.GetValue<string>(), current + 1, Convert.FromBase64String(data));
        return Ok(config.DeepClone());
    }

    private CannedResponse SendCommand(DeviceRecord record, JsonObject body)
    {
        var data = Convert.FromBase64String(body["binaryData"]?.GetValue<string>() ?? "");
        var subfolder = body["subfolder"]?.GetValue<string>();
        var sink = CommandSink;
        if (sink is not null && !sink(record.Device["id"]!.GetValue<string>(), subfolder, data))
            return Error(400, "FAILED_PRECONDITION", "Device is not connected or not subscribed to commands.");
        LastCommand = (record.Device["id"]!.GetValue<string>(), subfolder, data);
        return Ok(new JsonObject());
    }

    /// <summary>The last command accepted (device, subfolder, data).</summary>
    public (string Device, string? Subfolder, byte[] Data)? LastCommand { get; private set; }

    private CannedResponse Bind(JsonObject body, bool bind)
    {
        var gw = body["gatewayId"]?.GetValue<string>() ?? "";
        var dev = body["deviceId"]?.GetValue<string>() ?? "";
        var gateway = Find(gw);
        if (gateway is null || Find(dev) is null) return Error(404, "NOT_FOUND", "Gateway or device not found.");
        if (gateway.Device["gatewayConfig"]?["gatewayType"]?.GetValue<string>() != "GATEWAY") return Error(400, "INVALID_ARGUMENT", $"{gw} is not a gateway.");
        if (bind) _bindings.Add((gw, dev)); else _bindings.Remove((gw, dev));
        return Ok(new JsonObject());
    }

    private static readonly string[] KeyFormats = ["UNSPECIFIED_PUBLIC_KEY_FORMAT", "RSA_X509_PEM", "ES256_PEM", "RSA_PEM", "ES256_X509_PEM"];
    private static readonly string[] GatewayTypes = ["GATEWAY_TYPE_UNSPECIFIED", "GATEWAY", "NON_GATEWAY"];
    private static readonly string[] AuthMethods = ["GATEWAY_AUTH_METHOD_UNSPECIFIED", "ASSOCIATION_ONLY", "DEVICE_AUTH_TOKEN_ONLY", "ASSOCIATION_AND_DEVICE_AUTH_TOKEN"];

    private static string EnumName(string value, string[] names) => int.TryParse(value, CultureInfo.InvariantCulture, out var i) && i >= 0 && i < names.Length ? names[i] : value;

    private static string EnumName(JsonNode node, string[] names) => EnumName(node.ToString(), names);

    /// <summary>Rewrites integer enums (GAPIC REST) as names.</summary>
    public static JsonObject Normalize(JsonObject device)
    {
        var copy = device.DeepClone().AsObject();
        if (copy["credentials"] is JsonArray creds)
            foreach (var c in creds)
                if (c?["publicKey"]?["format"] is { } f) c["publicKey"]!["format"] = EnumName(f, KeyFormats);
        if (copy["gatewayConfig"] is JsonObject gc)
        {
            if (gc["gatewayType"] is { } t) gc["gatewayType"] = EnumName(t, GatewayTypes);
            if (gc["gatewayAuthMethod"] is { } m) gc["gatewayAuthMethod"] = EnumName(m, AuthMethods);
        }
        return copy;
    }

    private static Dictionary<string, List<string>> ParseQuery(string query)
    {
        var result = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var i = pair.IndexOf('=');
            var key = Uri.UnescapeDataString(i < 0 ? pair : pair[..i]);
            var value = i < 0 ? "" : Uri.UnescapeDataString(pair[(i + 1)..].Replace('+', ' '));
            if (!result.TryGetValue(key, out var list)) result[key] = list = [];
            list.Add(value);
        }
        return result;
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
