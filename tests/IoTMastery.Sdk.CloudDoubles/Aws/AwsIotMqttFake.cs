using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace IoTMastery.Sdk.CloudDoubles.Aws;

/// <summary>
/// A loopback stand-in for AWS IoT Core's device gateway: MQTT over TLS with client certificates, the classic and
/// named shadow topics and the jobs MQTT API, with the topics and payloads of the AWS IoT Developer Guide. Written because no
/// AWS MQTT peer runs offline (moto has no broker); proven against the official aws-iot-device-sdk for JavaScript
/// in <c>AwsDeviceSdkConformanceTests</c> before our device connection is tested against it.
/// </summary>
/// <remarks>
/// Lifecycle events: a connect publishes <c>$aws/events/presence/connected/{clientId}</c> and a disconnect
/// <c>$aws/events/presence/disconnected/{clientId}</c> with exactly the fields of the guide's "Lifecycle events" page (see
/// <see cref="ConnectedEvent"/>, <see cref="DisconnectedEvent"/>); the connect-failure and subscribe/unsubscribe events are not.
/// Not modelled: policies beyond "a thing's reserved topics belong to the client whose id is the thing name",
/// persistent sessions, the 10-in-flight shadow throttle, delivery of accepted/rejected to non-subscribers,
/// job timeouts, rollouts and cancellation. Application topics are forwarded like any broker.
/// </remarks>
public sealed partial class AwsIotMqttFake : IAsyncDisposable
{
    private const string ThingsPrefix = "$aws/things/";
    private const int MaxShadowBytes = 8 * 1024;
    private static readonly string[] Terminal = ["SUCCEEDED", "FAILED", "REJECTED", "REMOVED", "CANCELED", "TIMED_OUT"];
    private readonly LocalCertificateAuthority _ca;
    private readonly TimeProvider _time;
    private readonly X509Certificate2 _serverCertificate;
    private readonly MqttServer _server;
    private readonly Channel<(string ClientId, string Topic, byte[] Payload)> _requests = Channel.CreateUnbounded<(string, string, byte[])>(new() { SingleReader = true });
    private readonly Dictionary<(string Thing, string Shadow), Shadow> _shadows = [];
    private readonly System.Collections.Concurrent.ConcurrentQueue<Exception> _faults = new();
    private readonly Dictionary<string, List<JobExecution>> _jobs = [];
    private readonly Lock _lock = new();
    private readonly List<(string ClientId, string Topic, string Payload)> _received = [];
    private readonly Dictionary<string, long> _presenceVersions = new(StringComparer.Ordinal);
    private readonly HashSet<string> _sentDisconnect = new(StringComparer.Ordinal);
    private readonly Task _worker;
    private const string PresenceKey = "iotm:presence";

    private AwsIotMqttFake(LocalCertificateAuthority ca, TimeProvider time, X509Certificate2 serverCertificate, MqttServer server, AwsIotMotoBacking? moto)
    {
        _ca = ca;
        _time = time;
        _serverCertificate = serverCertificate;
        _server = server;
        _backing = moto;
        _moto = moto is null ? null : new MotoIotClient(moto);
        _server.ValidatingConnectionAsync += ValidateAsync;
        _server.InterceptingPublishAsync += InterceptAsync;
        _server.ClientConnectedAsync += OnConnectedAsync;
        _server.ClientDisconnectedAsync += OnDisconnectedAsync;
        _server.InterceptingInboundPacketAsync += OnInboundPacketAsync;
        _server.InterceptingSubscriptionAsync += OnSubscribingAsync;
        _worker = Task.Run(WorkAsync);
        _poller = moto is null ? Task.CompletedTask : Task.Run(PollAsync);
    }

    /// <summary>The bound TLS port on 127.0.0.1.</summary>
    public int Port { get; private set; }

    /// <summary>The CA that issued the server certificate (clients trust it) and that client certificates must chain to.</summary>
    public X509Certificate2Collection TrustedRoots => [_ca.Certificate];

    /// <summary>Starts listening on a free loopback port.</summary>
    /// <param name="ca">Issues the server certificate; without <paramref name="moto"/>, client certificates must chain to it.</param>
    /// <param name="time">The clock of timestamps and of the moto polling interval.</param>
    /// <param name="moto">Backs certificates and shadows with moto (see the class remarks); null keeps them in the double.</param>
    public static async Task<AwsIotMqttFake> StartAsync(LocalCertificateAuthority ca, TimeProvider? time = null, AwsIotMotoBacking? moto = null)
    {
        var certificate = ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
        var options = new MqttServerOptionsBuilder()
            .WithoutDefaultEndpoint()
            .WithEncryptedEndpoint()
            .WithEncryptedEndpointBoundIPAddress(IPAddress.Loopback)
            .WithEncryptedEndpointBoundIPV6Address(IPAddress.None)
            .WithEncryptedEndpointPort(0)
            .WithEncryptionCertificate(certificate)
            .WithEncryptionSslProtocol(SslProtocols.Tls12 | SslProtocols.Tls13)
            // TLS insists on a certificate; whose it is gets checked on CONNECT.
            .WithClientCertificate(static (_, cert, _, errors) => cert is not null && !errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            .Build();
        var server = new MqttServerFactory().CreateMqttServer(options);
        var fake = new AwsIotMqttFake(ca, time ?? TimeProvider.System, certificate, server, moto);
        await server.StartAsync().ConfigureAwait(false);
        fake.Port = options.TlsEndpointOptions.Port;
        return fake;
    }

    /// <summary>Everything devices published to reserved and application topics, in arrival order.</summary>
    public IReadOnlyList<(string ClientId, string Topic, string Payload)> Received
    {
        get { lock (_lock) return [.. _received]; }
    }

    /// <summary>The service side of UpdateThingShadow: same rules and notifications as a device's update.</summary>
    /// <returns>The accepted document, or the rejected document (has <c>code</c>).</returns>
    public async Task<JsonObject> UpdateShadowAsync(string thing, JsonObject request, string shadowName = "")
    {
        RequireOwnShadows();
        var (topic, response, events) = UpdateShadow(thing, shadowName, Encoding.UTF8.GetBytes(request.ToJsonString()));
        await PublishAllAsync(events).ConfigureAwait(false);
        _ = topic;
        return Wire(response);
    }

    /// <summary>The service side of GetThingShadow; null when the shadow does not exist.</summary>
    public JsonObject? GetShadow(string thing, string shadowName = "")
    {
        RequireOwnShadows();
        lock (_lock) return _shadows.TryGetValue((thing, shadowName), out var s) ? Wire(s.Document(Now(), null)) : null;
    }

    /// <summary>Queues a job execution for a thing (the part of CreateJob that reaches one device) and notifies it.</summary>
    public async Task QueueJobAsync(string thing, string jobId, JsonObject document)
    {
        List<(string, JsonObject)> events;
        lock (_lock)
        {
            var list = JobsOf(thing);
            if (list.Any(j => j.JobId == jobId)) throw new InvalidOperationException($"Job {jobId} is already queued for {thing}.");
            var before = Next(list);
            var now = Now();
            list.Add(new JobExecution { JobId = jobId, Document = document.DeepClone().AsObject(), QueuedAt = now, LastUpdatedAt = now });
            events = JobNotifications(thing, before);
        }
        await PublishAllAsync(events).ConfigureAwait(false);
    }

    /// <summary>A snapshot of one job execution (DescribeJobExecution), or null.</summary>
    public JsonObject? DescribeJobExecution(string thing, string jobId)
    {
        lock (_lock) return JobsOf(thing).FirstOrDefault(j => j.JobId == jobId) is { } j ? Wire(j.Execution(thing, includeDocument: false)) : null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _requests.Writer.TryComplete();
        await _server.StopAsync().ConfigureAwait(false);
        await _worker.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _poller.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _server.Dispose();
        _serverCertificate.Dispose();
        _moto?.Dispose();
        _stopping.Dispose();
    }

    // What a client would parse from the wire (numbers readable as any numeric type).
    private static JsonObject Wire(JsonObject node) => JsonNode.Parse(node.ToJsonString())!.AsObject();

    private long Now() => _time.GetUtcNow().ToUnixTimeSeconds();

    private async Task ValidateAsync(ValidatingConnectionEventArgs e)
    {
        // AWS: the certificate must be one it knows (here: issued by the test CA, or registered in moto); client ids are
        // ≤128 bytes and not '$…'.
        if (e.ClientCertificate is null || string.IsNullOrEmpty(e.ClientId) || Encoding.UTF8.GetByteCount(e.ClientId) > 128 || e.ClientId.StartsWith('$')
            || (_moto is null && !_ca.ValidateClientCertificate(e.ClientCertificate)))
        {
            e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
            return;
        }
        MotoPrincipal? principal = null;
        // With moto the reason code is set there: NotAuthorized, or ServerUnavailable when moto does not answer.
        if (_moto is not null && (principal = await AuthorizeWithMotoAsync(e).ConfigureAwait(false)) is null) return;
        // AWS names an X.509 principal by its certificate id: the SHA-256 of the DER certificate, lower-case hex.
        e.SessionItems[PresenceKey] = new PresenceSession(Guid.NewGuid().ToString("N"), Convert.ToHexStringLower(SHA256.HashData(e.ClientCertificate.RawData)), principal);
    }

    /// <summary>One connection's lifecycle identity: the connect and disconnect events of a session share it.</summary>
    private sealed record PresenceSession(string SessionIdentifier, string PrincipalIdentifier, MotoPrincipal? Principal);

    /// <summary>The documented connect event payload: these fields and no others.</summary>
    public static JsonObject ConnectedEvent(string clientId, long timestampMs, string sessionIdentifier, string principalIdentifier, string ipAddress, long versionNumber) => new()
    {
        ["clientId"] = clientId,
        ["timestamp"] = timestampMs,
        ["eventType"] = "connected",
        ["sessionIdentifier"] = sessionIdentifier,
        ["principalIdentifier"] = principalIdentifier,
        ["ipAddress"] = ipAddress,
        ["versionNumber"] = versionNumber,
    };

    /// <summary>The documented disconnect event payload: these fields and no others.</summary>
    public static JsonObject DisconnectedEvent(string clientId, long timestampMs, string sessionIdentifier, string principalIdentifier, bool clientInitiatedDisconnect,
        string disconnectReason, long versionNumber) => new()
    {
        ["clientId"] = clientId,
        ["timestamp"] = timestampMs,
        ["eventType"] = "disconnected",
        ["sessionIdentifier"] = sessionIdentifier,
        ["principalIdentifier"] = principalIdentifier,
        ["clientInitiatedDisconnect"] = clientInitiatedDisconnect,
        ["disconnectReason"] = disconnectReason,
        ["versionNumber"] = versionNumber,
    };

    /// <summary>Publishes any payload on any topic as the broker would (for feeding consumers what AWS should never send).</summary>
    public Task InjectAsync(string topic, byte[] payload) =>
        _server.InjectApplicationMessage(new InjectedMqttApplicationMessage(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()) { SenderClientId = string.Empty });

    private static PresenceSession? Presence(System.Collections.IDictionary? items) =>
        items is not null && items.Contains(PresenceKey) ? items[PresenceKey] as PresenceSession : null;

    private long NextPresenceVersion(string clientId)
    {
        // Per client id and growing with every event, so a subscriber can order duplicates and late arrivals.
        lock (_lock)
        {
            var version = _presenceVersions.GetValueOrDefault(clientId);
            _presenceVersions[clientId] = version + 1;
            return version;
        }
    }

    private async Task OnConnectedAsync(ClientConnectedEventArgs e)
    {
        if (Presence(e.SessionItems) is not { } session) return;
        lock (_lock)
        {
            _sentDisconnect.Remove(e.ClientId);
            if (session.Principal is { } principal) _live[e.ClientId] = principal;
        }
        var ip = (e.RemoteEndPoint as IPEndPoint)?.Address.ToString() ?? "";
        var payload = ConnectedEvent(e.ClientId, _time.GetUtcNow().ToUnixTimeMilliseconds(), session.SessionIdentifier, session.PrincipalIdentifier, ip, NextPresenceVersion(e.ClientId));
        await PublishAllAsync([("$aws/events/presence/connected/" + e.ClientId, payload)]).ConfigureAwait(false);
    }

    // A DISCONNECT packet is what makes a disconnect client-initiated; noted as it arrives, before the socket closes.
    private Task OnInboundPacketAsync(InterceptingPacketEventArgs e)
    {
        if (e.Packet is MQTTnet.Packets.MqttDisconnectPacket)
            lock (_lock) _sentDisconnect.Add(e.ClientId);
        return Task.CompletedTask;
    }

    private async Task OnDisconnectedAsync(ClientDisconnectedEventArgs e)
    {
        if (Presence(e.SessionItems) is not { } session) return;
        // The disconnectReason values of IOTDOC life-cycle-events.md that a loopback broker can tell apart.
        bool sentDisconnect, authError;
        lock (_lock)
        {
            sentDisconnect = _sentDisconnect.Remove(e.ClientId);
            // A takeover's new session is already live under the same client id; only this session's principal leaves.
            if (session.Principal is { } principal && _live.TryGetValue(e.ClientId, out var live) && ReferenceEquals(live, principal)) _live.Remove(e.ClientId);
            authError = session.Principal is { } p && _closedForAuth.Remove(p);
        }
        var (clientInitiated, reason) = authError ? (false, "AUTH_ERROR")
            : e.DisconnectType == MqttClientDisconnectType.Takeover ? (false, "DUPLICATE_CLIENTID")
            : sentDisconnect || e.DisconnectType == MqttClientDisconnectType.Clean ? (true, "CLIENT_INITIATED_DISCONNECT")
            : (false, "CONNECTION_LOST");
        var payload = DisconnectedEvent(e.ClientId, _time.GetUtcNow().ToUnixTimeMilliseconds(), session.SessionIdentifier, session.PrincipalIdentifier, clientInitiated, reason,
            NextPresenceVersion(e.ClientId));
        try
        {
            await PublishAllAsync([("$aws/events/presence/disconnected/" + e.ClientId, payload)]).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            // The broker is stopping: nobody is left to tell.
        }
    }

    private Task InterceptAsync(InterceptingPublishEventArgs e)
    {
        if (e.ClientId is null || e.ClientId == string.Empty) return Task.CompletedTask; // injected by us
        var topic = e.ApplicationMessage.Topic;
        var payload = System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload);
        lock (_lock) _received.Add((e.ClientId, topic, Encoding.UTF8.GetString(payload)));
        if (!topic.StartsWith("$aws/", StringComparison.Ordinal)) return Task.CompletedTask;
        e.ProcessPublish = false;
        var levels = topic.Split('/');
        // The device policy: a thing's reserved topics belong to the connection whose client id is the thing name.
        if (levels.Length < 4 || levels[1] != "things" || levels[2] != e.ClientId)
        {
            e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            return Task.CompletedTask;
        }
        _requests.Writer.TryWrite((e.ClientId, topic, payload));
        return Task.CompletedTask;
    }

    // One request at a time, in arrival order, so responses and notifications keep the order AWS documents.
    private async Task WorkAsync()
    {
        await foreach (var (_, topic, payload) in _requests.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                // The moto poll runs in this queue too, so a device's own update is never mistaken for a fleet-side one.
                var events = topic == PollTopic ? await PollShadowsAsync().ConfigureAwait(false)
                    : _moto is not null && IsShadowTopic(topic) ? await HandleMotoShadowAsync(topic, payload).ConfigureAwait(false)
                    : Handle(topic, payload);
                await PublishAllAsync(events).ConfigureAwait(false);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return; // stopping
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // moto did not answer a poll in time: tried again at the next interval.
            }
            catch (Exception ex)
            {
                // One bad request must not end the worker: it used to return here on any InvalidOperationException, and every
                // later shadow request and fleet-side delta of the run then went unanswered (a rollout test hung 30 s).
                NoteFault(ex);
            }
        }
    }

    /// <summary>Unexpected errors the double's request worker and moto poll survived; empty in a healthy run.</summary>
    public IReadOnlyCollection<Exception> Faults => _faults;

    private void NoteFault(Exception ex)
    {
        _faults.Enqueue(ex);
        Console.Error.WriteLine($"AwsIotMqttFake: {ex.GetType().Name}: {ex.Message}");
    }

    private async Task PublishAllAsync(List<(string Topic, JsonObject Payload)> events)
    {
        foreach (var (topic, payload) in events)
        {
            var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(Encoding.UTF8.GetBytes(payload.ToJsonString()))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
            await _server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = string.Empty }).ConfigureAwait(false);
        }
    }

    private List<(string, JsonObject)> Handle(string topic, byte[] payload)
    {
        // $aws/things/{thing}/shadow[/name/{name}]/{op}  |  $aws/things/{thing}/jobs/…
        var levels = topic.Split('/');
        var thing = levels[2];
        if (levels[3] == "shadow")
        {
            var shadowName = levels.Length == 7 && levels[4] == "name" ? levels[5] : levels.Length == 5 ? "" : null;
            var op = levels[^1];
            if (shadowName is null) return [];
            var prefix = string.Join('/', levels[..^1]);
            return op switch
            {
                "get" => GetShadow(prefix, thing, shadowName, payload),
                "update" => UpdateShadow(thing, shadowName, payload).Events,
                "delete" => DeleteShadow(prefix, thing, shadowName, payload),
                _ => [],
            };
        }
        if (levels[3] == "jobs")
        {
            lock (_lock) return HandleJobs(thing, string.Join('/', levels[..^1]), levels[4..], payload);
        }
        return [];
    }

    private static JsonObject? ParseObject(byte[] payload, out bool invalid)
    {
        invalid = false;
        if (payload.Length == 0) return [];
        try
        {
            if (JsonNode.Parse(payload) is JsonObject o) return o;
        }
        catch (JsonException)
        {
        }
        invalid = true;
        return null;
    }

    private JsonObject Rejected(int code, string message, string? clientToken)
    {
        var doc = new JsonObject { ["code"] = code, ["message"] = message, ["timestamp"] = Now() };
        if (clientToken is not null) doc["clientToken"] = clientToken;
        return doc;
    }

    private List<(string, JsonObject)> GetShadow(string prefix, string thing, string shadowName, byte[] payload)
    {
        var request = ParseObject(payload, out var invalid);
        var token = (string?)request?["clientToken"];
        if (invalid) return [(prefix + "/get/rejected", Rejected(400, "Invalid JSON", null))];
        lock (_lock)
        {
            if (!_shadows.TryGetValue((thing, shadowName), out var shadow))
                return [(prefix + "/get/rejected", Rejected(404, $"No shadow exists with name: '{(shadowName.Length == 0 ? thing : shadowName)}'", token))];
            return [(prefix + "/get/accepted", shadow.Document(Now(), token))];
        }
    }

    private List<(string, JsonObject)> DeleteShadow(string prefix, string thing, string shadowName, byte[] payload)
    {
        var request = ParseObject(payload, out var invalid);
        var token = (string?)request?["clientToken"];
        if (invalid) return [(prefix + "/delete/rejected", Rejected(400, "Invalid JSON", null))];
        lock (_lock)
        {
            if (!_shadows.Remove((thing, shadowName), out var shadow))
                return [(prefix + "/delete/rejected", Rejected(404, $"No shadow exists with name: '{(shadowName.Length == 0 ? thing : shadowName)}'", token))];
            var doc = new JsonObject { ["version"] = shadow.Version, ["timestamp"] = Now() };
            if (token is not null) doc["clientToken"] = token;
            return [(prefix + "/delete/accepted", doc)];
        }
    }

    private (string Prefix, JsonObject Response, List<(string, JsonObject)> Events) UpdateShadow(string thing, string shadowName, byte[] payload)
    {
        var prefix = ThingsPrefix + thing + "/shadow" + (shadowName.Length == 0 ? "" : "/name/" + shadowName);
        (string, JsonObject, List<(string, JsonObject)>) Reject(int code, string message, string? token)
        {
            var r = Rejected(code, message, token);
            return (prefix, r, [(prefix + "/update/rejected", r)]);
        }
        if (payload.Length > MaxShadowBytes) return Reject(413, "The payload exceeds the maximum size allowed", null);
        var request = ParseObject(payload, out var invalid);
        if (invalid || payload.Length == 0) return Reject(400, "Invalid JSON", null);
        var token = request!["clientToken"] is JsonValue tv && tv.TryGetValue<string>(out var t) ? t : null;
        if (token is not null && Encoding.UTF8.GetByteCount(token) > 64) return Reject(400, "clientToken must be at most 64 bytes", null);
        if (request["state"] is not JsonObject state) return Reject(400, "Missing required node: state", token);
        var now = Now();
        lock (_lock)
        {
            _shadows.TryGetValue((thing, shadowName), out var shadow);
            if (request["version"] is JsonNode v && (shadow is null ? v.GetValue<long>() != 0 : v.GetValue<long>() != shadow.Version))
                return Reject(409, "Version conflict", token);
            var previous = shadow?.Snapshot(now);
            shadow ??= _shadows[(thing, shadowName)] = new Shadow();
            shadow.Desired = Apply(shadow.Desired, state, "desired");
            shadow.Reported = Apply(shadow.Reported, state, "reported");
            shadow.Version++;
            var accepted = new JsonObject { ["state"] = state.DeepClone(), ["metadata"] = Metadata(state, now), ["version"] = shadow.Version, ["timestamp"] = now };
            if (token is not null) accepted["clientToken"] = token;
            var documents = new JsonObject { ["previous"] = previous, ["current"] = shadow.Snapshot(now), ["timestamp"] = now };
            if (token is not null) documents["clientToken"] = token;
            var events = new List<(string, JsonObject)> { (prefix + "/update/accepted", accepted), (prefix + "/update/documents", documents) };
            // A delta goes out when an update of desired leaves a difference from reported.
            if (state.ContainsKey("desired") && Delta(shadow.Desired, shadow.Reported) is { Count: > 0 } delta)
            {
                var deltaDoc = new JsonObject { ["version"] = shadow.Version, ["timestamp"] = now, ["state"] = delta, ["metadata"] = Metadata(delta, now) };
                if (token is not null) deltaDoc["clientToken"] = token;
                events.Add((prefix + "/update/delta", deltaDoc));
            }
            return (prefix, accepted.DeepClone().AsObject(), events);
        }
    }

    // "section": null removes the section; otherwise a JSON merge (null leaves delete).
    private static JsonObject? Apply(JsonObject? current, JsonObject state, string section)
    {
        if (!state.TryGetPropertyValue(section, out var patch)) return current;
        if (patch is null) return null;
        if (patch is not JsonObject p) return current;
        return JsonMergePatch.Apply(current ?? [], p);
    }

    private static JsonObject Delta(JsonObject? desired, JsonObject? reported)
    {
        var delta = new JsonObject();
        if (desired is null) return delta;
        foreach (var (key, want) in desired)
        {
            var have = reported?[key];
            if (want is JsonObject wo && have is JsonObject ho)
            {
                if (Delta(wo, ho) is { Count: > 0 } inner) delta[key] = inner;
            }
            else if (!JsonNode.DeepEquals(want, have))
            {
                delta[key] = want?.DeepClone();
            }
        }
        return delta;
    }

    private static JsonNode? Metadata(JsonNode? node, long now) => node switch
    {
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(kv.Key, Metadata(kv.Value, now)))),
        JsonArray a => new JsonArray([.. a.Select(x => Metadata(x, now))]),
        null => null,
        _ => new JsonObject { ["timestamp"] = now },
    };

    private sealed class Shadow
    {
        public JsonObject? Desired { get; set; }

        public JsonObject? Reported { get; set; }

        public long Version { get; set; }

        public JsonObject Snapshot(long now)
        {
            var state = new JsonObject();
            var metadata = new JsonObject();
            if (Desired is not null) { state["desired"] = Desired.DeepClone(); metadata["desired"] = Metadata(Desired, now); }
            if (Reported is not null) { state["reported"] = Reported.DeepClone(); metadata["reported"] = Metadata(Reported, now); }
            return new JsonObject { ["state"] = state, ["metadata"] = metadata, ["version"] = Version };
        }

        public JsonObject Document(long now, string? clientToken)
        {
            var doc = Snapshot(now);
            if (Delta(Desired, Reported) is { Count: > 0 } delta) doc["state"]!["delta"] = delta;
            doc["timestamp"] = now;
            if (clientToken is not null) doc["clientToken"] = clientToken;
            return doc;
        }
    }

    private sealed class JobExecution
    {
        public required string JobId { get; init; }

        public required JsonObject Document { get; init; }

        public string Status { get; set; } = "QUEUED";

        public JsonObject? StatusDetails { get; set; }

        public long VersionNumber { get; set; } = 1;

        public long ExecutionNumber { get; init; } = 1;

        public long QueuedAt { get; init; }

        public long? StartedAt { get; set; }

        public long LastUpdatedAt { get; set; }

        public bool IsPending => Status is "QUEUED" or "IN_PROGRESS";

        public JsonObject Summary()
        {
            var s = new JsonObject { ["jobId"] = JobId, ["queuedAt"] = QueuedAt, ["lastUpdatedAt"] = LastUpdatedAt, ["versionNumber"] = VersionNumber, ["executionNumber"] = ExecutionNumber };
            if (StartedAt is { } started) s["startedAt"] = started;
            return s;
        }

        public JsonObject Execution(string thing, bool includeDocument)
        {
            var e = new JsonObject { ["jobId"] = JobId, ["thingName"] = thing, ["status"] = Status };
            if (StatusDetails is not null) e["statusDetails"] = StatusDetails.DeepClone();
            e["queuedAt"] = QueuedAt;
            if (StartedAt is { } started) e["startedAt"] = started;
            e["lastUpdatedAt"] = LastUpdatedAt;
            e["versionNumber"] = VersionNumber;
            e["executionNumber"] = ExecutionNumber;
            if (includeDocument) e["jobDocument"] = Document.DeepClone();
            return e;
        }

        public JsonObject State()
        {
            var s = new JsonObject { ["status"] = Status };
            if (StatusDetails is not null) s["statusDetails"] = StatusDetails.DeepClone();
            s["versionNumber"] = VersionNumber;
            return s;
        }
    }

    private List<JobExecution> JobsOf(string thing) =>
        _jobs.TryGetValue(thing, out var list) ? list : _jobs[thing] = [];

    // The next execution: the oldest in progress, else the oldest queued.
    private static JobExecution? Next(List<JobExecution> list) =>
        list.FirstOrDefault(j => j.Status == "IN_PROGRESS") ?? list.FirstOrDefault(j => j.Status == "QUEUED");

    private List<(string, JsonObject)> JobNotifications(string thing, JobExecution? nextBefore)
    {
        var list = JobsOf(thing);
        var now = Now();
        var jobs = new JsonObject();
        var inProgress = list.Where(j => j.Status == "IN_PROGRESS").Select(j => (JsonNode)j.Summary()).ToArray();
        var queued = list.Where(j => j.Status == "QUEUED").Select(j => (JsonNode)j.Summary()).ToArray();
        if (inProgress.Length > 0) jobs["IN_PROGRESS"] = new JsonArray(inProgress);
        if (queued.Length > 0) jobs["QUEUED"] = new JsonArray(queued);
        var events = new List<(string, JsonObject)> { (ThingsPrefix + thing + "/jobs/notify", new JsonObject { ["timestamp"] = now, ["jobs"] = jobs }) };
        var next = Next(list);
        if (!ReferenceEquals(next, nextBefore))
        {
            var doc = new JsonObject { ["timestamp"] = now };
            if (next is not null)
            {
                var execution = next.Execution(thing, includeDocument: true);
                execution.Remove("thingName");
                doc["execution"] = execution;
            }
            events.Add((ThingsPrefix + thing + "/jobs/notify-next", doc));
        }
        return events;
    }

    private JsonObject JobError(string code, string message, string? token, JobExecution? state = null)
    {
        var doc = new JsonObject { ["code"] = code, ["message"] = message, ["timestamp"] = Now() };
        if (token is not null) doc["clientToken"] = token;
        if (state is not null) doc["executionState"] = state.State();
        return doc;
    }

    private List<(string, JsonObject)> HandleJobs(string thing, string requestTopic, string[] rest, byte[] payload)
    {
        // rest: ["get"] | ["start-next"] | [jobId, "get"] | [jobId, "update"]
        var request = ParseObject(payload, out var invalid);
        var token = request?["clientToken"] is JsonValue tv && tv.TryGetValue<string>(out var t) ? t : null;
        var list = JobsOf(thing);
        var now = Now();
        List<(string, JsonObject)> Reply(JsonObject body) => [(requestTopic + "/" + rest[^1] + "/accepted", body)];
        List<(string, JsonObject)> Fail(JsonObject error) => [(requestTopic + "/" + rest[^1] + "/rejected", error)];
        JsonObject Stamp(JsonObject body)
        {
            body["timestamp"] = now;
            if (token is not null) body["clientToken"] = token;
            return body;
        }
        if (rest.Length is < 1 or > 2) return [];
        if (invalid) return Fail(JobError("InvalidJson", "The request payload is not valid JSON.", null));
        if (rest is ["get"])
        {
            return Reply(Stamp(new JsonObject
            {
                ["inProgressJobs"] = new JsonArray([.. list.Where(j => j.Status == "IN_PROGRESS").Select(j => (JsonNode)j.Summary())]),
                ["queuedJobs"] = new JsonArray([.. list.Where(j => j.Status == "QUEUED").Select(j => (JsonNode)j.Summary())]),
            }));
        }
        if (rest is ["start-next"])
        {
            var before = Next(list);
            if (before is null) return Reply(Stamp([]));
            if (before.Status == "QUEUED")
            {
                before.Status = "IN_PROGRESS";
                before.StartedAt = now;
                before.VersionNumber++;
            }
            if (request!["statusDetails"] is JsonObject details) before.StatusDetails = details.DeepClone().AsObject();
            before.LastUpdatedAt = now;
            return [.. Reply(Stamp(new JsonObject { ["execution"] = before.Execution(thing, true) })), .. JobNotifications(thing, before)];
        }
        if (rest.Length != 2) return [];
        var jobId = rest[0];
        var execution = jobId == "$next" ? Next(list) : list.FirstOrDefault(j => j.JobId == jobId);
        if (rest[1] == "get")
        {
            if (execution is null)
                return jobId == "$next" ? Reply(Stamp([])) : Fail(JobError("ResourceNotFound", $"Job execution {jobId} for {thing} was not found.", token));
            var includeDocument = request!["includeJobDocument"] is not JsonValue inc || inc.GetValue<bool>();
            return Reply(Stamp(new JsonObject { ["execution"] = execution.Execution(thing, includeDocument) }));
        }
        if (rest[1] != "update") return [];
        if (execution is null) return Fail(JobError("ResourceNotFound", $"Job execution {jobId} for {thing} was not found.", token));
        var status = (string?)request!["status"];
        if (status is not ("IN_PROGRESS" or "SUCCEEDED" or "FAILED" or "REJECTED"))
            return Fail(JobError("InvalidRequest", "status must be IN_PROGRESS, SUCCEEDED, FAILED or REJECTED.", token));
        if (request["statusDetails"] is JsonObject sd && sd.Any(kv => kv.Value is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
            return Fail(JobError("InvalidRequest", "statusDetails values must be strings.", token));
        if (request["expectedVersion"] is JsonValue ev && ev.GetValue<long>() != execution.VersionNumber)
            return Fail(JobError("VersionMismatch", "The expected version does not match the job execution's version.", token, execution));
        if (request["executionNumber"] is JsonValue en && en.GetValue<long>() != execution.ExecutionNumber)
            return Fail(JobError("ResourceNotFound", $"Execution {en} of job {execution.JobId} was not found.", token));
        if (Terminal.Contains(execution.Status))
            return Fail(JobError("InvalidStateTransition", $"The job execution is already {execution.Status}.", token, execution));
        var nextBefore = Next(list);
        if (execution.Status == "QUEUED" && status == "IN_PROGRESS") execution.StartedAt = now;
        execution.Status = status;
        if (request["statusDetails"] is JsonObject newDetails) execution.StatusDetails = newDetails.DeepClone().AsObject();
        execution.VersionNumber++;
        execution.LastUpdatedAt = now;
        var accepted = new JsonObject();
        if (request["includeJobExecutionState"] is JsonValue ies && ies.GetValue<bool>()) accepted["executionState"] = execution.State();
        if (request["includeJobDocument"] is JsonValue ijd && ijd.GetValue<bool>()) accepted["jobDocument"] = execution.Document.DeepClone();
        List<(string, JsonObject)> events = [(requestTopic + "/update/accepted", Stamp(accepted))];
        if (Terminal.Contains(status) || !ReferenceEquals(Next(list), nextBefore)) events.AddRange(JobNotifications(thing, nextBefore));
        return events;
    }
}
