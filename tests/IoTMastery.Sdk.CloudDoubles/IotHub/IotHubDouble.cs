using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using IoTMastery.Sdk.Azure;
using IoTMastery.Sdk.CloudDoubles.CredentialExpiry;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace IoTMastery.Sdk.CloudDoubles.IotHub;

/// <summary>One recorded exchange: an HTTP request or an MQTT event, in the form the conformance comparison uses.</summary>
public sealed record CapturedRequest(string Kind, string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>
/// An IoT Hub test double on 127.0.0.1: the service REST API over HTTPS (Kestrel) and the device/DPS MQTT API over TLS
/// (MQTTnet.Server), following the IoT Hub REST and MQTT documentation. It verifies service and device SAS signatures, keeps identities, twins
/// (with versions and ETags), routes direct methods to connected devices, and records every request for the conformance
/// tests. The official Node.js clients drive it first (AzureNodeDriver) so it is held to the real contract.
/// </summary>
public sealed class IotHubDouble : IAsyncDisposable
{
    public const string HubHost = "myhub.azure-devices.net";
    public const string PolicyName = "iothubowner";
    public const string IdScope = "0ne00000A0A";

    /// <summary>The service REST api-version the hub accepts; its own copy so provider drift fails here.</summary>
    public const string ApiVersion = "2021-04-12";
    public static readonly string PolicyKey = Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
    public static readonly string GroupKey = Convert.ToBase64String(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());

    /// <summary>The one individual enrollment: registration id and its own key (every other id is in the group).</summary>
    public const string IndividualRegistrationId = "reg-ind";
    public static readonly string IndividualKey = Convert.ToBase64String(Enumerable.Range(200, 32).Select(i => (byte)i).ToArray());

    // DPS's group derivation, BASE64(HMACSHA256(group key, registration id)), computed here rather than with the SDK's
    // (internal) helper, so a derivation bug in the SDK cannot pass against the double.
    private static string EnrollmentKey(string registrationId) =>
        registrationId == IndividualRegistrationId ? IndividualKey
            : Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(GroupKey), Encoding.UTF8.GetBytes(registrationId)));

    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create("IoT Hub double CA");

    /// <summary>The CA registered and verified in the hub: devices of type certificateAuthority present certificates it issued, CN = device id.</summary>
    public LocalCertificateAuthority VerifiedCa { get; } = LocalCertificateAuthority.Create("IoT Hub double verified device CA");
    private readonly X509Certificate2 _serverCertificate;
    private readonly ConcurrentDictionary<string, DeviceRecord> _devices = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<(int, JsonNode?)>> _methodCalls = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _connected = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<CapturedRequest> _captured = new();
    private readonly ConcurrentQueue<(string DeviceId, string Topic, byte[] Payload)> _telemetry = new();
    private readonly ConcurrentQueue<(DateTimeOffset At, string DeviceId, byte[] Payload)> _telemetryArrivals = new();
    private readonly SessionExpiryEnforcer _sessions;
    private readonly Lock _lock = new();
    private WebApplication? _web;
    private MqttServer? _mqtt;
    private long _etagCounter;
    private int _rid;

    private IotHubDouble()
    {
        _serverCertificate = _ca.IssueServerCertificate(["localhost", HubHost], [IPAddress.Loopback]);
        // The hub closes a SAS device's connection when its token expires (IoT Hub documents this for MQTT); the clock is the double's real one.
        _sessions = new SessionExpiryEnforcer(TimeProvider.System, DisconnectDeviceAsync);
    }

    public int HttpsPort { get; private set; }
    public int MqttPort { get; private set; }
    public X509Certificate2 CaCertificate => _ca.Certificate;
    public string CaPem => _ca.CertificatePem;
    public string ServiceConnectionString => $"HostName={HubHost};SharedAccessKeyName={PolicyName};SharedAccessKey={PolicyKey}";
    public IReadOnlyList<CapturedRequest> Captured => _captured.ToList();
    public IReadOnlyList<(string DeviceId, string Topic, byte[] Payload)> Telemetry => _telemetry.ToList();

    /// <summary>Device-to-cloud telemetry messages with the time the double received each, for delivery-stall figures.</summary>
    public IReadOnlyList<(DateTimeOffset At, string DeviceId, byte[] Payload)> TelemetryArrivals => _telemetryArrivals.ToList();

    /// <summary>SAS device CONNECTs with their verdicts and token expiry, and the sessions cut when their token expired.</summary>
    public SessionExpiryEnforcer CredentialSessions => _sessions;

    /// <summary>When set, the next HTTP requests are answered with these statuses (and bodies) first: fault injection for retry tests.</summary>
    public ConcurrentQueue<(int Status, string Body)> InjectedFaults { get; } = new();

    /// <summary>A Retry-After (seconds) sent with every injected fault, when set.</summary>
    public int? FaultRetryAfterSeconds { get; set; }

    public bool IsConnected(string deviceId) => _connected.ContainsKey(deviceId);

    /// <summary>The firmware store file providers built on this hub share (<see cref="IotHubDoubleProviders"/>); deleted with the hub.</summary>
    public TempFirmwareStore FirmwareStore { get; } = new();

    /// <summary>
    /// Awaited for each service request before it is handled, so a test can hold one request at a known point (for example to
    /// kill the calling process there) instead of racing a timer. A task that ends canceled drops the request unhandled.
    /// </summary>
    public Func<CapturedRequest, Task>? BeforeHandling { get; set; }

    // connectionStateUpdatedTime and lastActivityTime as the hub keeps them (REST "Device" and "Twin"): lastActivityTime is
    // "the last time the device connected, received, or sent a message"; both read 0001-01-01T00:00:00Z until first set.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _connectionStateUpdated = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastActivity = new(StringComparer.Ordinal);
    private const string NeverTime = "0001-01-01T00:00:00Z";

    private long _connectionStateSequence;

    private void ConnectionChanged(string deviceId, bool connected)
    {
        var now = TimeProvider.System.GetUtcNow();
        _connectionStateUpdated[deviceId] = now;
        if (connected) _lastActivity[deviceId] = now;
        if (RouteConnectionStateEvents && EventHubs is { } endpoint) AppendConnectionStateEvent(endpoint, deviceId, connected, now);
    }

    /// <summary>
    /// The built-in Event Hubs-compatible endpoint (AMQP). Device telemetry is always forwarded to it, as by a hub's fallback
    /// route; connection-state events are, while <see cref="RouteConnectionStateEvents"/> is on.
    /// </summary>
    public EventHubsEndpointDouble? EventHubs { get; private set; }

    /// <summary>
    /// As a message route with source <c>DeviceConnectionStateEvents</c> to the built-in endpoint: every connect and disconnect
    /// becomes an event there. Off by default, as on a new hub.
    /// </summary>
    public bool RouteConnectionStateEvents { get; set; }

    /// <summary>
    /// A connection-state event as the hub writes it to the endpoint (IoT Hub non-telemetry event schema): application properties
    /// <c>hubName</c>, <c>deviceId</c>, <c>opType</c> (deviceConnected/deviceDisconnected), <c>iothub-message-schema</c>
    /// (deviceConnectionStateNotification) and <c>operationTimestamp</c>; system properties <c>iothub-connection-device-id</c>,
    /// <c>iothub-enqueuedtime</c> and <c>iothub-message-source</c> (deviceConnectionStateEvents); body <c>{"sequenceNumber": …}</c>,
    /// a 64-digit hex string that orders one device's changes.
    /// </summary>
    internal void AppendConnectionStateEvent(EventHubsEndpointDouble endpoint, string deviceId, bool connected, DateTimeOffset at, string? sequenceNumber = null)
    {
        // Same layout as the documented example "000000000000000001D4132452F67CE200000002000000000000000000000001": a clock part and a counter.
        sequenceNumber ??= $"{0L:X16}{at.UtcTicks:X16}{2:X8}{0L:X16}{Interlocked.Increment(ref _connectionStateSequence):X8}";
        endpoint.Append(EventHubsEndpointDouble.PartitionOf(deviceId), Encoding.UTF8.GetBytes(new JsonObject { ["sequenceNumber"] = sequenceNumber }.ToJsonString()),
            new Dictionary<string, object>
            {
                ["hubName"] = HubHost.Split('.')[0],
                ["deviceId"] = deviceId,
                ["opType"] = connected ? "deviceConnected" : "deviceDisconnected",
                ["iothub-message-schema"] = "deviceConnectionStateNotification",
                ["operationTimestamp"] = at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture),
            },
            new Dictionary<string, object>
            {
                ["iothub-connection-device-id"] = deviceId,
                ["iothub-enqueuedtime"] = at.UtcDateTime,
                ["iothub-message-source"] = "deviceConnectionStateEvents",
            },
            correlationId: Guid.NewGuid().ToString("N"));
    }

    /// <summary>
    /// A device-to-cloud message as the hub writes it to the endpoint: on the device's partition (one device's messages stay in
    /// order), body unchanged; the topic's property bag split as IoT Hub splits it: <c>$.mid</c>, <c>$.cid</c>, <c>$.ct</c> and
    /// <c>$.ce</c> become the AMQP message-id, correlation-id, content-type and content-encoding, other <c>$.</c> keys are system
    /// fields this double drops, every other key an application property; system properties <c>iothub-connection-device-id</c>
    /// (from the MQTT session, never the payload), <c>iothub-enqueuedtime</c> and <c>iothub-message-source</c> = <c>Telemetry</c>.
    /// </summary>
    private static void AppendTelemetryEvent(EventHubsEndpointDouble endpoint, string deviceId, string bag, byte[] payload)
    {
        var system = new Dictionary<string, string>(StringComparer.Ordinal);
        var application = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var pair in bag.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2);
            var (name, value) = (Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
            if (name.StartsWith("$.", StringComparison.Ordinal)) system[name] = value;
            else application[name] = value;
        }
        endpoint.Append(EventHubsEndpointDouble.PartitionOf(deviceId), payload, application,
            new Dictionary<string, object>
            {
                ["iothub-connection-device-id"] = deviceId,
                ["iothub-enqueuedtime"] = TimeProvider.System.GetUtcNow().UtcDateTime,
                ["iothub-message-source"] = "Telemetry",
            },
            contentType: system.GetValueOrDefault("$.ct"), correlationId: system.GetValueOrDefault("$.cid"),
            messageId: system.GetValueOrDefault("$.mid"), contentEncoding: system.GetValueOrDefault("$.ce"));
    }

    private static string WireTime(ConcurrentDictionary<string, DateTimeOffset> times, string deviceId) =>
        times.TryGetValue(deviceId, out var t) ? t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture) : NeverTime;

    // A twin carries connectionState and lastActivityTime (not connectionStateUpdatedTime).
    private JsonObject WithTwinPresence(JsonObject twin)
    {
        var id = twin["deviceId"]!.GetValue<string>();
        twin["connectionState"] = IsConnected(id) ? "Connected" : "Disconnected";
        twin["lastActivityTime"] = WireTime(_lastActivity, id);
        return twin;
    }

    public static async Task<IotHubDouble> StartAsync(int mqttPort = 0)
    {
        var hub = new IotHubDouble();
        await hub.StartHttpAsync().ConfigureAwait(false);
        await hub.StartMqttAsync(mqttPort).ConfigureAwait(false);
        hub.EventHubs = await EventHubsEndpointDouble.StartAsync(HubHost.Split('.')[0]).ConfigureAwait(false);
        return hub;
    }

    public void ClearCaptures()
    {
        while (_captured.TryDequeue(out _)) { }
    }

    /// <summary>Sends a cloud-to-device message to a connected device.</summary>
    public Task SendCloudToDeviceAsync(string deviceId, string body, IEnumerable<KeyValuePair<string, string?>> properties) =>
        InjectAsync(deviceId, $"devices/{deviceId}/messages/devicebound/" + string.Join("&", properties.Select(p => Uri.EscapeDataString(p.Key) + (p.Value is null ? "" : "=" + Uri.EscapeDataString(p.Value)))),
            Encoding.UTF8.GetBytes(body), MqttQualityOfServiceLevel.AtLeastOnce);

    /// <summary>Publishes a raw message to one device, for tests of out-of-order or duplicate hub messages.</summary>
    public Task PublishToDeviceAsync(string deviceId, string topic, string payload) =>
        InjectAsync(deviceId, topic, Encoding.UTF8.GetBytes(payload), MqttQualityOfServiceLevel.AtMostOnce);

    public async ValueTask DisposeAsync()
    {
        _sessions.Dispose();
        if (_mqtt is not null)
        {
            await _mqtt.StopAsync().ConfigureAwait(false);
            _mqtt.Dispose();
        }
        if (_web is not null) await _web.DisposeAsync().ConfigureAwait(false);
        if (EventHubs is not null) await EventHubs.DisposeAsync().ConfigureAwait(false);
        _serverCertificate.Dispose();
        _ca.Dispose();
        VerifiedCa.Dispose();
        FirmwareStore.Dispose();
    }

    // ---------------------------------------------------------------- HTTP

    private async Task StartHttpAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(_serverCertificate)));
        _web = builder.Build();
        _web.Run(HandleHttpAsync);
        await _web.StartAsync().ConfigureAwait(false);
        HttpsPort = new Uri(_web.Urls.First()).Port;
    }

    private async Task HandleHttpAsync(HttpContext context)
    {
        var request = context.Request;
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var bodyText = await reader.ReadToEndAsync().ConfigureAwait(false);
        var headers = request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal);
        // The path as sent (Kestrel's Path is decoded), so the conformance comparison sees how each client escapes ids.
        var rawTarget = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? request.Path.Value ?? "";
        var captured = new CapturedRequest("http", request.Method, rawTarget.Split('?')[0], request.QueryString.Value ?? "", headers, bodyText);
        _captured.Enqueue(captured);
        if (BeforeHandling is { } hold)
        {
            try
            {
                await hold(captured).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The test dropped the request: its client never learns whether it would have succeeded, and nothing changed.
                context.Abort();
                return;
            }
        }
        (int Status, JsonNode? Body, Dictionary<string, string>? Headers) result;
        try
        {
            if (InjectedFaults.TryDequeue(out var fault))
            {
                context.Response.StatusCode = fault.Status;
                if (FaultRetryAfterSeconds is { } after) context.Response.Headers.RetryAfter = after.ToString(CultureInfo.InvariantCulture);
                await context.Response.WriteAsync(fault.Body).ConfigureAwait(false);
                return;
            }
            if (request.Query["api-version"] != ApiVersion)
                result = Error(400, "InvalidProtocolVersion", 400001, "api-version must be 2021-04-12");
            else if (!ValidServiceAuthorization(headers.GetValueOrDefault("authorization")))
                result = Error(401, "IotHubUnauthorizedAccess", 401002, "Unauthorized");
            else
                result = await RouteAsync(request.Method, (request.Path.Value ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray(),
                    bodyText.Length == 0 ? null : JsonNode.Parse(bodyText), headers).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            result = Error(400, "IotHubFormatError", 400006, "Malformed JSON");
        }
        context.Response.StatusCode = result.Status;
        if (result.Headers is not null)
            foreach (var (k, v) in result.Headers) context.Response.Headers[k] = v;
        if (result.Body is not null)
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.WriteAsync(result.Body.ToJsonString()).ConfigureAwait(false);
        }
    }

    private async Task<(int, JsonNode?, Dictionary<string, string>?)> RouteAsync(string method, string[] s, JsonNode? body, Dictionary<string, string> headers)
    {
        var ifMatch = headers.GetValueOrDefault("if-match");
        switch (method, s)
        {
            case ("POST", ["devices", "query"]):
                return Query(body?["query"]?.GetValue<string>() ?? "", headers);
            case ("POST", ["devices"]):
                return Bulk(body as JsonArray ?? []);
            case ("PUT", ["devices", var id]):
            {
                var put = PutDevice(id, body as JsonObject ?? [], ifMatch);
                // IoT Hub closes the connections of a device that is disabled (status: "If Disabled, this device cannot access
                // any device-facing endpoint"; the device SDKs report the drop as DeviceDisabled). Done before the answer, so
                // the double is prompt and deterministic where the hub is prompt only eventually.
                if (put.Item1 == 200 && _devices.TryGetValue(id, out var written) && written.Status != "enabled")
                    await CutDeviceAsync(id, "device disabled").ConfigureAwait(false);
                return put;
            }
            case ("GET", ["devices", var id]):
                return _devices.TryGetValue(id, out var d) ? Ok(WithConnectionState(d.Identity()), d.Etag) : NotFound(id);
            case ("DELETE", ["devices", var id]):
                lock (_lock)
                {
                    if (!_devices.TryGetValue(id, out var existing)) return NotFound(id);
                    if (ifMatch is null) return Error(400, "ArgumentInvalid", 400004, "If-Match is required");
                    if (ifMatch != "\"*\"" && ifMatch != Quote(existing.Etag)) return Error(412, "PreconditionFailed", 412001, "ETag mismatch");
                    _devices.TryRemove(id, out _);
                }
                // A deleted device's connections end as a disabled one's do.
                await CutDeviceAsync(id, "device deleted").ConfigureAwait(false);
                return (204, null, null);
            case ("GET", ["twins", var id]):
                return _devices.TryGetValue(id, out var t) ? Ok(WithTwinPresence(t.Twin()), t.TwinEtag) : NotFound(id);
            case ("PATCH" or "PUT", ["twins", var id]):
                return await UpdateTwinAsync(id, body as JsonObject ?? [], ifMatch, replace: method == "PUT").ConfigureAwait(false);
            case ("POST", ["twins", var id, "methods"]):
                return await InvokeMethodAsync(id, body as JsonObject ?? []).ConfigureAwait(false);
            case ("GET", ["statistics", "devices"]):
                return Ok(new JsonObject
                {
                    ["totalDeviceCount"] = _devices.Count,
                    ["enabledDeviceCount"] = _devices.Values.Count(x => x.Status == "enabled"),
                    ["disabledDeviceCount"] = _devices.Values.Count(x => x.Status == "disabled"),
                }, null);
            case ("GET", ["statistics", "service"]):
                return Ok(new JsonObject { ["connectedDeviceCount"] = _connected.Count }, null);
            case ("PUT", ["jobs", "v2", var jobId]):
                return Ok(new JsonObject
                {
                    ["jobId"] = jobId, ["type"] = body?["type"]?.DeepClone(), ["status"] = "queued", ["queryCondition"] = body?["queryCondition"]?.DeepClone(),
                    ["startTime"] = body?["startTime"]?.DeepClone(), ["maxExecutionTimeInSeconds"] = body?["maxExecutionTimeInSeconds"]?.DeepClone(),
                }, null);
            default:
                return Error(404, "NotFound", 404000, $"No route for {method} /{string.Join('/', s)}");
        }
    }

    private (int, JsonNode?, Dictionary<string, string>?) PutDevice(string id, JsonObject body, string? ifMatch)
    {
        if (body["deviceId"]?.GetValue<string>() != id) return Error(400, "ArgumentInvalid", 400004, "deviceId mismatch");
        lock (_lock)
        {
            var exists = _devices.TryGetValue(id, out var existing);
            if (ifMatch is null && exists) return Error(409, "DeviceAlreadyExists", 409001, "A device with ID '" + id + "' is already registered.", legacy: true);
            if (ifMatch is not null && !exists) return NotFound(id);
            if (ifMatch is not null && ifMatch != "\"*\"" && ifMatch != Quote(existing!.Etag)) return Error(412, "PreconditionFailed", 412001, "ETag mismatch");
            var record = existing ?? new DeviceRecord(id);
            ApplyIdentity(record, body, exists);
            _devices[id] = record;
            return Ok(WithConnectionState(record.Identity()), record.Etag);
        }
    }

    // What a device PUT and a bulk create entry set alike: status, authentication (the hub generates missing SAS keys), ETag.
    private void ApplyIdentity(DeviceRecord record, JsonObject body, bool exists)
    {
        record.Status = body["status"]?.GetValue<string>() ?? "enabled";
        record.StatusReason = body["statusReason"]?.GetValue<string>();
        var auth = body["authentication"] as JsonObject ?? new JsonObject { ["type"] = "sas" };
        record.AuthType = auth["type"]?.GetValue<string>() ?? "sas";
        if (record.AuthType == "sas")
        {
            record.PrimaryKey = NonEmpty(auth["symmetricKey"]?["primaryKey"]) ?? (exists ? record.PrimaryKey : NewKey());
            record.SecondaryKey = NonEmpty(auth["symmetricKey"]?["secondaryKey"]) ?? (exists ? record.SecondaryKey : NewKey());
        }
        record.PrimaryThumbprint = NonEmpty(auth["x509Thumbprint"]?["primaryThumbprint"]);
        record.SecondaryThumbprint = NonEmpty(auth["x509Thumbprint"]?["secondaryThumbprint"]);
        record.Etag = NextEtag();
    }

    private async Task<(int, JsonNode?, Dictionary<string, string>?)> UpdateTwinAsync(string id, JsonObject patch, string? ifMatch, bool replace)
    {
        JsonObject? desiredPatch = null;
        long desiredVersion;
        DeviceRecord? record;
        lock (_lock)
        {
            if (!_devices.TryGetValue(id, out record)) return NotFound(id);
            if (ifMatch is not null && ifMatch != "\"*\"" && ifMatch != Quote(record.TwinEtag)) return Error(412, "PreconditionFailed", 412001, "Precondition failed: etag mismatch");
            if (patch["tags"] is JsonObject tags)
                record.Tags = replace ? (JsonObject)tags.DeepClone() : JsonMergePatch.Apply(record.Tags, tags);
            if (patch["properties"]?["desired"] is JsonObject desired)
            {
                record.Desired = replace ? (JsonObject)desired.DeepClone() : JsonMergePatch.Apply(record.Desired, desired);
                record.DesiredVersion++;
                desiredPatch = (JsonObject)desired.DeepClone();
            }
            record.Version++;
            record.TwinEtag = NextEtag();
            desiredVersion = record.DesiredVersion;
        }
        if (desiredPatch is not null && _connected.ContainsKey(id))
        {
            desiredPatch["$version"] = desiredVersion;
            await InjectAsync(id, "$iothub/twin/PATCH/properties/desired/?$version=" + desiredVersion, Encoding.UTF8.GetBytes(desiredPatch.ToJsonString()), MqttQualityOfServiceLevel.AtMostOnce).ConfigureAwait(false);
        }
        return Ok(record.Twin(), record.TwinEtag);
    }

    private (int, JsonNode?, Dictionary<string, string>?) Query(string sql, Dictionary<string, string> headers)
    {
        var pageSize = int.TryParse(headers.GetValueOrDefault("x-ms-max-item-count"), out var n) ? Math.Clamp(n, 1, 1000) : 100;
        var start = int.TryParse(headers.GetValueOrDefault("x-ms-continuation"), out var c) ? c : 0;
        IEnumerable<DeviceRecord> rows = _devices.Values.OrderBy(d => d.Id, StringComparer.Ordinal);
        // The subset of the IoT Hub query language the SDK generates: status and tag equality, is_defined on tags.
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(sql, @"status = '(\w+)'"))
            rows = rows.Where(d => d.Status == m.Groups[1].Value);
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(sql, @"tags\.(\w+) = '([^']*)'"))
            rows = rows.Where(d => d.Tags[m.Groups[1].Value]?.ToString() == m.Groups[2].Value);
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(sql, @"is_defined\(tags\.(\w+)\)"))
            rows = rows.Where(d => d.Tags[m.Groups[1].Value] is not null);
        var all = rows.ToList();
        var page = all.Skip(start).Take(pageSize).Select(d => (JsonNode)WithTwinPresence(d.Twin())).ToArray();
        var responseHeaders = new Dictionary<string, string> { ["x-ms-item-type"] = "twin" };
        if (start + pageSize < all.Count) responseHeaders["x-ms-continuation"] = (start + pageSize).ToString(CultureInfo.InvariantCulture);
        return (200, new JsonArray(page), responseHeaders);
    }

    private (int, JsonNode?, Dictionary<string, string>?) Bulk(JsonArray entries)
    {
        if (entries.Count > 100) return Error(400, "TooManyDevices", 400000, "At most 100 devices per bulk request");
        var errors = new JsonArray();
        foreach (var entry in entries.OfType<JsonObject>())
        {
            var id = entry["id"]?.GetValue<string>() ?? "";
            // The hub reads importMode case-insensitively: the Node SDK sends "Delete", the C# SDK "delete".
            var mode = entry["importMode"]?.GetValue<string>()?.ToLowerInvariant();
            lock (_lock)
            {
                if (mode == "create" && _devices.ContainsKey(id))
                    errors.Add(new JsonObject { ["deviceId"] = id, ["errorCode"] = "DeviceAlreadyExists", ["errorStatus"] = "A device with ID '" + id + "' is already registered." });
                else if (mode == "create")
                {
                    // An ExportImportDevice carries the identity's status and authentication and the twin's tags.
                    var record = new DeviceRecord(id);
                    ApplyIdentity(record, entry, exists: false);
                    if (entry["tags"] is JsonObject tags) record.Tags = (JsonObject)tags.DeepClone();
                    _devices[id] = record;
                }
                else if (mode == "delete" && !_devices.TryRemove(id, out _))
                    errors.Add(new JsonObject { ["deviceId"] = id, ["errorCode"] = "DeviceNotFound", ["errorStatus"] = "Device not found" });
            }
        }
        var result = new JsonObject { ["isSuccessful"] = errors.Count == 0, ["errors"] = errors, ["warnings"] = new JsonArray() };
        return errors.Count == 0 ? (200, result, null) : (400, result, new Dictionary<string, string> { ["IotHubErrorCode"] = "BulkRegistryOperationFailure" });
    }

    private async Task<(int, JsonNode?, Dictionary<string, string>?)> InvokeMethodAsync(string id, JsonObject body)
    {
        if (!_devices.ContainsKey(id)) return NotFound(id);
        if (!_connected.ContainsKey(id)) return Error(404, "DeviceNotOnline", 404103, "Timed out waiting for device to connect.", legacy: false);
        var rid = Interlocked.Increment(ref _rid).ToString(CultureInfo.InvariantCulture);
        var completion = new TaskCompletionSource<(int, JsonNode?)>(TaskCreationOptions.RunContinuationsAsynchronously);
        _methodCalls[id + "/" + rid] = completion;
        try
        {
            var name = body["methodName"]?.GetValue<string>() ?? "";
            var payload = body["payload"]?.ToJsonString() ?? "null";
            await InjectAsync(id, $"$iothub/methods/POST/{name}/?$rid={rid}", Encoding.UTF8.GetBytes(payload), MqttQualityOfServiceLevel.AtMostOnce).ConfigureAwait(false);
            var timeout = TimeSpan.FromSeconds(body["responseTimeoutInSeconds"]?.GetValue<int>() ?? 30);
            try
            {
                var (status, response) = await completion.Task.WaitAsync(timeout).ConfigureAwait(false);
                return Ok(new JsonObject { ["status"] = status, ["payload"] = response }, null);
            }
            catch (TimeoutException)
            {
                return Error(504, "GatewayTimeout", 504101, "Timed out waiting for the response from device.", legacy: false);
            }
        }
        finally
        {
            _methodCalls.TryRemove(id + "/" + rid, out _);
        }
    }

    /// <summary>The Microsoft Entra ID bearer token the double accepts (it cannot validate real Entra tokens).</summary>
    public const string EntraToken = "double-entra-token";

    private bool ValidServiceAuthorization(string? header)
    {
        if (header == "Bearer " + EntraToken) return true;
        if (header is null || !header.StartsWith("SharedAccessSignature ", StringComparison.Ordinal)) return false;
        var fields = Fields(header["SharedAccessSignature ".Length..]);
        return fields.GetValueOrDefault("skn") == PolicyName && WebUtility.UrlDecode(fields.GetValueOrDefault("sr")) == HubHost && ValidSignature(fields, PolicyKey);
    }

    // ---------------------------------------------------------------- MQTT

    private async Task StartMqttAsync(int port)
    {
        var options = new MqttServerOptionsBuilder()
            .WithoutDefaultEndpoint()
            .WithEncryptedEndpoint()
            .WithEncryptedEndpointBoundIPAddress(IPAddress.Loopback)
            .WithEncryptedEndpointBoundIPV6Address(IPAddress.None)
            .WithEncryptedEndpointPort(port)
            .WithTlsEndpointReuseAddress()
            .WithEncryptionCertificate(_serverCertificate)
            .WithEncryptionSslProtocol(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13)
            // Asks for a client certificate but accepts none: SAS devices send none, X.509 devices are checked on CONNECT by thumbprint.
            .WithClientCertificate((_, _, _, _) => true)
            .Build();
        var server = new MqttServerFactory().CreateMqttServer(options);
        server.ValidatingConnectionAsync += ValidateConnectionAsync;
        server.ClientConnectedAsync += e =>
        {
            if (!e.UserName.Contains("/registrations/", StringComparison.Ordinal))
            {
                _connected[e.ClientId] = e.ClientId;
                ConnectionChanged(e.ClientId, connected: true);
            }
            return Task.CompletedTask;
        };
        server.ClientDisconnectedAsync += e =>
        {
            if (_connected.TryRemove(e.ClientId, out _)) ConnectionChanged(e.ClientId, connected: false);
            return Task.CompletedTask;
        };
        server.InterceptingPublishAsync += InterceptPublishAsync;
        server.InterceptingSubscriptionAsync += e =>
        {
            _captured.Enqueue(new CapturedRequest("mqtt-subscribe", "SUBSCRIBE", e.TopicFilter.Topic, ((int)e.TopicFilter.QualityOfServiceLevel).ToString(CultureInfo.InvariantCulture),
                new Dictionary<string, string> { ["clientId"] = e.ClientId }, ""));
            return Task.CompletedTask;
        };
        server.InterceptingClientEnqueueAsync += e =>
        {
            // Injected replies go to their one addressee, although every device subscribes to the same $iothub filters.
            if (e.SenderClientId.StartsWith("hub->", StringComparison.Ordinal))
                e.AcceptEnqueue = e.ReceiverClientId == e.SenderClientId["hub->".Length..];
            return Task.CompletedTask;
        };
        await server.StartAsync().ConfigureAwait(false);
        MqttPort = options.TlsEndpointOptions.Port;
        _mqtt = server;
    }

    private Task ValidateConnectionAsync(ValidatingConnectionEventArgs e)
    {
        _captured.Enqueue(new CapturedRequest("mqtt-connect", "CONNECT", e.ClientId, "", new Dictionary<string, string>
        {
            ["username"] = e.UserName ?? "",
            ["password"] = e.Password ?? "",
            ["cleanSession"] = e.CleanSession?.ToString() ?? "",
            ["keepAlive"] = e.KeepAlivePeriod.ToString() ?? "",
            ["protocol"] = e.ProtocolVersion.ToString(),
        }, ""));
        var fields = Fields((e.Password ?? "").StartsWith("SharedAccessSignature ", StringComparison.Ordinal) ? e.Password!["SharedAccessSignature ".Length..] : "");
        if ((e.UserName ?? "").StartsWith(IdScope + "/registrations/", StringComparison.Ordinal))
        {
            // DPS: an individual enrollment's own key, or the key derived from the group key.
            var key = EnrollmentKey(e.ClientId);
            var resource = WebUtility.UrlDecode(fields.GetValueOrDefault("sr") ?? "");
            if (fields.GetValueOrDefault("skn") != "registration" || resource != IdScope + "/registrations/" + e.ClientId || !ValidSignature(fields, key))
                e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            return Task.CompletedTask;
        }
        if (e.UserName != $"{HubHost}/{e.ClientId}/?api-version=2021-04-12" && !(e.UserName ?? "").StartsWith($"{HubHost}/{e.ClientId}/?api-version=2021-04-12&", StringComparison.Ordinal))
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            return Task.CompletedTask;
        }
        if (!_devices.TryGetValue(e.ClientId, out var device) || device.Status != "enabled")
        {
            e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
            return Task.CompletedTask;
        }
        if (device.AuthType == "certificateAuthority")
        {
            if (!string.IsNullOrEmpty(e.Password) || e.ClientCertificate is not { } caSigned || !VerifiedCa.ValidateClientCertificate(caSigned)
                || LocalCertificateAuthority.GetCommonName(caSigned) != e.ClientId)
                e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            return Task.CompletedTask;
        }
        if (device.AuthType == "selfSigned")
        {
            // X.509: no password; the TLS client certificate's thumbprint (SHA-1 or SHA-256) must be registered.
            var cert = e.ClientCertificate;
            var thumbprints = cert is null ? [] : new[] { Convert.ToHexString(SHA1.HashData(cert.RawData)), Convert.ToHexString(SHA256.HashData(cert.RawData)) };
            if (!string.IsNullOrEmpty(e.Password) || !thumbprints.Any(t => string.Equals(t, device.PrimaryThumbprint, StringComparison.OrdinalIgnoreCase) || string.Equals(t, device.SecondaryThumbprint, StringComparison.OrdinalIgnoreCase)))
                e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            return Task.CompletedTask;
        }
        // sr is the resource encoded once, as azure-iot-device's SharedAccessSignature.create sends it: decoded once it is the raw id.
        var sr = Uri.UnescapeDataString(fields.GetValueOrDefault("sr") ?? "");
        if (sr != HubHost + "/devices/" + e.ClientId || device.AuthType != "sas"
            || !(ValidSignature(fields, device.PrimaryKey) || ValidSignature(fields, device.SecondaryKey)))
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            _sessions.Refused(e.ClientId, "SAS resource or signature invalid");
        }
        else if (Expired(fields))
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            _sessions.Refused(e.ClientId, "SAS expired");
        }
        else
        {
            _sessions.Accepted(e.ClientId, DateTimeOffset.FromUnixTimeSeconds(long.Parse(fields["se"], CultureInfo.InvariantCulture)));
        }
        return Task.CompletedTask;
    }

    /// <summary>Sessions the double closed because their device was disabled or deleted.</summary>
    public IReadOnlyList<(string DeviceId, string Reason)> StatusCuts => _statusCuts.ToList();

    private readonly ConcurrentQueue<(string DeviceId, string Reason)> _statusCuts = new();

    private async Task CutDeviceAsync(string deviceId, string reason)
    {
        if (await SessionExpiryEnforcer.CloseSessionAsync(_mqtt, deviceId, reason).ConfigureAwait(false))
        {
            if (_connected.TryRemove(deviceId, out _)) ConnectionChanged(deviceId, connected: false);
            _statusCuts.Enqueue((deviceId, reason));
        }
    }

    // The identity's connectionState as the hub reports it: Connected while the device has an MQTT session.
    private JsonObject WithConnectionState(JsonObject identity)
    {
        var id = identity["deviceId"]!.GetValue<string>();
        identity["connectionState"] = IsConnected(id) ? "Connected" : "Disconnected";
        identity["connectionStateUpdatedTime"] = WireTime(_connectionStateUpdated, id);
        identity["lastActivityTime"] = WireTime(_lastActivity, id);
        return identity;
    }

    private Task<bool> DisconnectDeviceAsync(string clientId) => SessionExpiryEnforcer.CloseSessionAsync(_mqtt, clientId, "SAS token expired");

    private async Task InterceptPublishAsync(InterceptingPublishEventArgs e)
    {
        // The double's own messages are routed; device publishes are answered here and never routed to other clients.
        if (e.ClientId.StartsWith("hub->", StringComparison.Ordinal)) return;
        e.ProcessPublish = false;
        var topic = e.ApplicationMessage.Topic;
        var payload = System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload);
        _captured.Enqueue(new CapturedRequest("mqtt-publish", "PUBLISH", topic, ((int)e.ApplicationMessage.QualityOfServiceLevel).ToString(CultureInfo.InvariantCulture),
            new Dictionary<string, string> { ["clientId"] = e.ClientId }, Encoding.UTF8.GetString(payload)));
        var id = e.ClientId;
        _lastActivity[id] = TimeProvider.System.GetUtcNow();
        if (topic.StartsWith($"devices/{id}/messages/events/", StringComparison.Ordinal))
        {
            _telemetry.Enqueue((id, topic, payload));
            _telemetryArrivals.Enqueue((DateTimeOffset.UtcNow, id, payload));
            if (EventHubs is { } endpoint) AppendTelemetryEvent(endpoint, id, topic[$"devices/{id}/messages/events/".Length..], payload);
            return;
        }
        if (topic.StartsWith("$iothub/twin/GET/", StringComparison.Ordinal) && _devices.TryGetValue(id, out var d))
        {
            var rid = Query(topic)["$rid"];
            JsonObject twin;
            lock (_lock) twin = new JsonObject { ["desired"] = WithVersion(d.Desired, d.DesiredVersion), ["reported"] = WithVersion(d.Reported, d.ReportedVersion) };
            await InjectAsync(id, $"$iothub/twin/res/200/?$rid={rid}", Encoding.UTF8.GetBytes(twin.ToJsonString()), MqttQualityOfServiceLevel.AtMostOnce).ConfigureAwait(false);
            return;
        }
        if (topic.StartsWith("$iothub/twin/PATCH/properties/reported/", StringComparison.Ordinal) && _devices.TryGetValue(id, out var r))
        {
            var rid = Query(topic)["$rid"];
            long version;
            lock (_lock)
            {
                r.Reported = JsonMergePatch.Apply(r.Reported, JsonNode.Parse(payload)!.AsObject());
                version = ++r.ReportedVersion;
                r.Version++;
                r.TwinEtag = NextEtag();
            }
            await InjectAsync(id, $"$iothub/twin/res/204/?$rid={rid}&$version={version}", [], MqttQualityOfServiceLevel.AtMostOnce).ConfigureAwait(false);
            return;
        }
        if (topic.StartsWith("$iothub/methods/res/", StringComparison.Ordinal))
        {
            var rest = topic["$iothub/methods/res/".Length..];
            var status = int.Parse(rest[..rest.IndexOf('/', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
            if (_methodCalls.TryGetValue(id + "/" + Query(topic)["$rid"], out var call))
                call.TrySetResult((status, payload.Length == 0 ? null : JsonNode.Parse(payload)));
            return;
        }
        if (topic.StartsWith("$dps/registrations/PUT/iotdps-register/", StringComparison.Ordinal))
        {
            var rid = Query(topic)["$rid"];
            var body = new JsonObject { ["operationId"] = "op-" + id, ["status"] = "assigning" };
            await InjectAsync(id, $"$dps/registrations/res/202/?$rid={rid}&retry-after=1", Encoding.UTF8.GetBytes(body.ToJsonString()), MqttQualityOfServiceLevel.AtLeastOnce).ConfigureAwait(false);
            return;
        }
        if (topic.StartsWith("$dps/registrations/GET/iotdps-get-operationstatus/", StringComparison.Ordinal))
        {
            var query = Query(topic);
            lock (_lock)
            {
                if (!_devices.ContainsKey(id))
                    _devices[id] = new DeviceRecord(id) { PrimaryKey = EnrollmentKey(id), SecondaryKey = EnrollmentKey(id), Etag = NextEtag() };
            }
            var body = new JsonObject
            {
                ["operationId"] = query.GetValueOrDefault("operationId"),
                ["status"] = "assigned",
                ["registrationState"] = new JsonObject
                {
                    ["registrationId"] = id, ["assignedHub"] = HubHost, ["deviceId"] = id, ["status"] = "assigned", ["substatus"] = "initialAssignment",
                    ["createdDateTimeUtc"] = "2026-01-01T00:00:00Z", ["lastUpdatedDateTimeUtc"] = "2026-01-01T00:00:00Z", ["etag"] = "\"e1\"",
                },
            };
            await InjectAsync(id, $"$dps/registrations/res/200/?$rid={query["$rid"]}", Encoding.UTF8.GetBytes(body.ToJsonString()), MqttQualityOfServiceLevel.AtLeastOnce).ConfigureAwait(false);
        }
    }

    private async Task InjectAsync(string clientId, string topic, byte[] payload, MqttQualityOfServiceLevel qos)
    {
        if (_mqtt is null) return;
        var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(qos).Build();
        await _mqtt.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = "hub->" + clientId }).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- helpers

    private static Dictionary<string, string> Query(string topic)
    {
        var q = topic.IndexOf('?', StringComparison.Ordinal);
        return q < 0 ? [] : topic[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).ToDictionary(p => Uri.UnescapeDataString(p[0]), p => p.Length > 1 ? Uri.UnescapeDataString(p[1]) : "", StringComparer.Ordinal);
    }

    private static Dictionary<string, string> Fields(string token) =>
        token.Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);

    // The signature is checked over sr exactly as transmitted (encoded or not), as the hub appears to do.
    private static bool ValidSignature(Dictionary<string, string> fields, string? key)
    {
        if (key is null || !fields.TryGetValue("sr", out var sr) || !fields.TryGetValue("se", out var se) || !fields.TryGetValue("sig", out var sig)) return false;
        // Computed here, not with the provider's signer, so a signing bug in the provider cannot pass against the double.
        var expected = Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(key), Encoding.UTF8.GetBytes(sr + "\n" + se)));
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(WebUtility.UrlDecode(sig)));
    }

    private static bool Expired(Dictionary<string, string> fields) =>
        !long.TryParse(fields.GetValueOrDefault("se"), out var se) || DateTimeOffset.FromUnixTimeSeconds(se) < DateTimeOffset.UtcNow;

    private static JsonObject WithVersion(JsonObject section, long version)
    {
        var copy = (JsonObject)section.DeepClone();
        copy["$version"] = version;
        return copy;
    }

    private static string? NonEmpty(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private string NextEtag() => Convert.ToBase64String(BitConverter.GetBytes(Interlocked.Increment(ref _etagCounter)));

    private static string Quote(string etag) => "\"" + etag + "\"";

    private static (int, JsonNode?, Dictionary<string, string>?) Ok(JsonObject body, string? etag) =>
        (200, body, etag is null ? null : new Dictionary<string, string> { ["ETag"] = Quote(etag) });

    private static (int, JsonNode?, Dictionary<string, string>?) NotFound(string id) =>
        Error(404, "DeviceNotFound", 404001, $"Device {id} not registered", legacy: true);

    // The hub answers in the legacy format for registry errors and JSON-in-Message for newer ones.
    private static (int, JsonNode?, Dictionary<string, string>?) Error(int status, string name, int code, string message, bool legacy = false)
    {
        var text = legacy
            ? $"ErrorCode:{name};{message}"
            : new JsonObject { ["errorCode"] = code, ["trackingId"] = Guid.NewGuid().ToString("N"), ["message"] = message, ["timestampUtc"] = "2026-01-01T00:00:00Z" }.ToJsonString();
        return (status, new JsonObject { ["Message"] = text, ["ExceptionMessage"] = "Tracking ID:double" }, new Dictionary<string, string> { ["iothub-errorcode"] = name });
    }

    private sealed class DeviceRecord(string id)
    {
        public string Id { get; } = id;
        public string Status { get; set; } = "enabled";
        public string? StatusReason { get; set; }
        public string AuthType { get; set; } = "sas";
        public string? PrimaryKey { get; set; }
        public string? SecondaryKey { get; set; }
        public string? PrimaryThumbprint { get; set; }
        public string? SecondaryThumbprint { get; set; }
        public string Etag { get; set; } = "";
        public string TwinEtag { get; set; } = "AAAAAAAAAAE=";
        public long Version { get; set; } = 1;
        public JsonObject Tags { get; set; } = [];
        public JsonObject Desired { get; set; } = [];
        public long DesiredVersion { get; set; } = 1;
        public JsonObject Reported { get; set; } = [];
        public long ReportedVersion { get; set; } = 1;

        public JsonObject Identity() => new()
        {
            ["deviceId"] = Id, ["generationId"] = "g-" + Id, ["etag"] = Etag, ["connectionState"] = "Disconnected", ["status"] = Status, ["statusReason"] = StatusReason,
            ["cloudToDeviceMessageCount"] = 0,
            ["authentication"] = new JsonObject
            {
                ["type"] = AuthType,
                ["symmetricKey"] = new JsonObject { ["primaryKey"] = AuthType == "sas" ? PrimaryKey : null, ["secondaryKey"] = AuthType == "sas" ? SecondaryKey : null },
                ["x509Thumbprint"] = new JsonObject { ["primaryThumbprint"] = PrimaryThumbprint, ["secondaryThumbprint"] = SecondaryThumbprint },
            },
            ["capabilities"] = new JsonObject { ["iotEdge"] = false },
        };

        public JsonObject Twin() => new()
        {
            ["deviceId"] = Id, ["etag"] = TwinEtag, ["deviceEtag"] = Etag, ["status"] = Status, ["version"] = Version, ["authenticationType"] = AuthType,
            ["x509Thumbprint"] = new JsonObject { ["primaryThumbprint"] = PrimaryThumbprint, ["secondaryThumbprint"] = SecondaryThumbprint },
            ["tags"] = Tags.DeepClone(),
            ["properties"] = new JsonObject { ["desired"] = WithVersion(Desired, DesiredVersion), ["reported"] = WithVersion(Reported, ReportedVersion) },
        };
    }
}
