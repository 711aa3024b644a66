using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using IoTMastery.Sdk.CloudDoubles.CredentialExpiry;
using IoTMastery.Sdk.CloudDoubles.PubSub;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace IoTMastery.Sdk.CloudDoubles.CloudIot;

/// <summary>
/// The Cloud IoT MQTT bridge's authentication, which Mosquitto cannot do: an MQTTnet TLS server on 127.0.0.1 that accepts a
/// CONNECT only for MQTT 3.1.1, client id = the device path of its registry, and a password that is a JWT signed (ES256 or
/// RS256) with one of the device's registered public keys, <c>aud</c> = the project id, <c>iat</c> not in the future,
/// <c>exp</c> not passed and at most 24 h after <c>iat</c> (the Cloud IoT Core JWT rules); and that closes a session when its JWT expires.
/// The JWT is checked here with the platform's crypto, not with the provider's signer, so a signing bug cannot pass.
/// Device events are recorded with their arrival time; they are routed further only once <see cref="RouteFor"/> has joined
/// the bridge to a <see cref="CloudIotRegistryDouble"/> and Pub/Sub, as the Cloud IoT Core bridge is joined to its registry.
/// </summary>
public sealed class CloudIotBridgeDouble : IAsyncDisposable
{
    private static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(24);
    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create("Cloud IoT bridge double CA");
    private readonly X509Certificate2 _serverCertificate;
    private readonly CloudIotRegistryName _registry;
    private readonly Func<string, IReadOnlyList<(string Format, string Key)>> _publicKeys;
    private readonly TimeProvider _time;
    private readonly ConcurrentQueue<(DateTimeOffset At, string DeviceId, string Topic, byte[] Payload)> _events = new();
    private readonly SessionExpiryEnforcer _sessions;
    // The live session of each client id: the key it authenticated with and the topic filters it subscribed, what a registry
    // change is judged against and what sendCommandToDevice needs (a command reaches only a device subscribed to its commands
    // topic). Kept per session, not per client id: MQTTnet raises an old session's disconnect on its own task, and under load it
    // arrives after the same device reconnected, when it must forget the old session and leave the new one alone.
    private readonly ConcurrentDictionary<string, BridgeSession> _live = new(StringComparer.Ordinal);
    private const string SessionItem = "cloud-iot-bridge:session";
    private readonly ConcurrentQueue<(DateTimeOffset At, string ClientId, string Reason)> _revocationCuts = new();
    private Func<string, bool> _isBlocked = _ => false;
    private BridgeRoute? _route;
    private MqttServer? _mqtt;

    private sealed class BridgeSession(string key)
    {
        public string Key { get; } = key;

        public ConcurrentDictionary<string, byte> Filters { get; } = new(StringComparer.Ordinal);
    }

    private static BridgeSession? SessionOf(System.Collections.IDictionary? items) =>
        items is not null && items.Contains(SessionItem) ? items[SessionItem] as BridgeSession : null;

    private sealed record BridgeRoute(CloudIotRegistryDouble Registry, PubSubRest PubSub, string TelemetryTopic, string ReplyTopic, string? ReplySubfolder);

    private CloudIotBridgeDouble(CloudIotRegistryName registry, Func<string, IReadOnlyList<(string Format, string Key)>> publicKeys, TimeProvider time)
    {
        _registry = registry;
        _publicKeys = publicKeys;
        _time = time;
        _serverCertificate = _ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
        _sessions = new SessionExpiryEnforcer(time, DisconnectAsync);
    }

    /// <summary>Test hook: awaited when a session's disconnect reaches the bridge, before the bridge forgets that session.</summary>
    internal Func<string, Task>? BeforeSessionForgottenForTest { get; set; }

    /// <summary>The TLS port on 127.0.0.1.</summary>
    public int Port { get; private set; }

    /// <summary>The root the bridge certificate chains to.</summary>
    public X509Certificate2Collection TrustedRoots => [X509Certificate2.CreateFromPem(_ca.CertificatePem)];

    /// <summary>Device CONNECTs with their verdicts and JWT expiry, and the sessions cut when their JWT expired.</summary>
    public SessionExpiryEnforcer CredentialSessions => _sessions;

    /// <summary>Sessions closed because the device was blocked, deleted or lost the key it authenticated with.</summary>
    public IReadOnlyList<(DateTimeOffset At, string ClientId, string Reason)> RevocationCuts => _revocationCuts.ToList();

    /// <summary>Events published by devices, with the bridge clock's time of arrival.</summary>
    public IReadOnlyList<(DateTimeOffset At, string DeviceId, string Topic, byte[] Payload)> Events => _events.ToList();

    /// <summary>Starts the bridge for one registry.</summary>
    /// <param name="registry">The registry whose devices may connect.</param>
    /// <param name="publicKeys">A device's registered keys (format, PEM), for example <see cref="CloudIotRegistryDouble.PublicKeys"/>.</param>
    /// <param name="time">The bridge's clock for <c>iat</c>/<c>exp</c>; the system clock by default.</param>
    public static async Task<CloudIotBridgeDouble> StartAsync(CloudIotRegistryName registry, Func<string, IReadOnlyList<(string Format, string Key)>> publicKeys, TimeProvider? time = null)
    {
        var bridge = new CloudIotBridgeDouble(registry, publicKeys, time ?? TimeProvider.System);
        var options = new MqttServerOptionsBuilder()
            .WithoutDefaultEndpoint()
            .WithEncryptedEndpoint()
            .WithEncryptedEndpointBoundIPAddress(IPAddress.Loopback)
            .WithEncryptedEndpointBoundIPV6Address(IPAddress.None)
            .WithEncryptedEndpointPort(0)
            .WithEncryptionCertificate(bridge._serverCertificate)
            .WithEncryptionSslProtocol(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13)
            .Build();
        var server = new MqttServerFactory().CreateMqttServer(options);
        server.ValidatingConnectionAsync += e => { bridge.Validate(e); return Task.CompletedTask; };
        server.InterceptingPublishAsync += bridge.InterceptPublishAsync;
        server.InterceptingInboundPacketAsync += e =>
        {
            // lastHeartbeatTime is "the last time an MQTT PINGREQ was received" (Cloud IoT Core v1 Device resource).
            if (e.Packet is MQTTnet.Packets.MqttPingReqPacket && bridge._route is { } route && e.ClientId?.StartsWith(registry.Device(""), StringComparison.Ordinal) == true)
                route.Registry.RecordActivity(e.ClientId[registry.Device("").Length..], "lastHeartbeatTime");
            // lastConfigAckTime is "the last time a PUBACK was received" for a config the bridge sent.
            if (e.Packet is MQTTnet.Packets.MqttPubAckPacket ack && e.ClientId is { } client && bridge._configDeliveries.TryRemove((client, ack.PacketIdentifier), out _)
                && bridge._route is { } acked && client.StartsWith(registry.Device(""), StringComparison.Ordinal))
                acked.Registry.RecordConfigAck(client[registry.Device("").Length..]);
            return Task.CompletedTask;
        };
        server.InterceptingOutboundPacketAsync += e =>
        {
            // Remembers which packet id carried a config to which session, so its PUBACK can be told from other PUBACKs.
            if (e.Packet is MQTTnet.Packets.MqttPublishPacket { QualityOfServiceLevel: MqttQualityOfServiceLevel.AtLeastOnce } publish && e.ClientId is { } client
                && publish.Topic.EndsWith("/config", StringComparison.Ordinal))
                bridge._configDeliveries[(client, publish.PacketIdentifier)] = publish.Topic;
            return Task.CompletedTask;
        };
        server.InterceptingSubscriptionAsync += e =>
        {
            if (SessionOf(e.SessionItems) is { } session) session.Filters[e.TopicFilter.Topic] = 0;
            return Task.CompletedTask;
        };
        server.InterceptingUnsubscriptionAsync += e =>
        {
            SessionOf(e.SessionItems)?.Filters.TryRemove(e.Topic, out _);
            return Task.CompletedTask;
        };
        server.ClientDisconnectedAsync += async e =>
        {
            if (bridge.BeforeSessionForgottenForTest is { } hook) await hook(e.ClientId).ConfigureAwait(false);
            // Only this session is forgotten: a newer one of the same device (a takeover, or a reconnect that came first) stays.
            if (SessionOf(e.SessionItems) is { } session) bridge._live.TryRemove(new KeyValuePair<string, BridgeSession>(e.ClientId, session));
        };
        await server.StartAsync().ConfigureAwait(false);
        bridge._mqtt = server;
        bridge.Port = options.TlsEndpointOptions.Port;
        if (bridge.Port == 0) throw new InvalidOperationException("The bridge double did not report its port.");
        return bridge;
    }

    private void Validate(ValidatingConnectionEventArgs e)
    {
        var prefix = _registry.Device("");
        if (e.ProtocolVersion != MqttProtocolVersion.V311)
        {
            Refuse(e, MqttConnectReasonCode.UnsupportedProtocolVersion, "the bridge speaks MQTT 3.1.1 only");
            return;
        }
        if (!e.ClientId.StartsWith(prefix, StringComparison.Ordinal) || e.ClientId.Length == prefix.Length)
        {
            Refuse(e, MqttConnectReasonCode.ClientIdentifierNotValid, "client id is not a device of this registry");
            return;
        }
        var deviceId = e.ClientId[prefix.Length..];
        var problem = CheckJwt(e.Password, deviceId, out var expiresAt, out var key);
        if (problem is not null)
        {
            Refuse(e, MqttConnectReasonCode.BadUserNameOrPassword, problem);
            return;
        }
        // Device.blocked: "connections or requests from this device will fail" (Cloud IoT v1 Device resource).
        if (_isBlocked(deviceId))
        {
            Refuse(e, MqttConnectReasonCode.NotAuthorized, "device is blocked");
            return;
        }
        // A new CONNECT with the same client id replaces the old session (one connection per device), so one key per client id.
        var session = new BridgeSession(key!);
        e.SessionItems[SessionItem] = session;
        _live[e.ClientId] = session;
        _sessions.Accepted(e.ClientId, expiresAt);
    }

    private void Refuse(ValidatingConnectionEventArgs e, MqttConnectReasonCode code, string reason)
    {
        e.ReasonCode = code;
        _sessions.Refused(e.ClientId, reason);
    }

    // Returns why the JWT is refused, or null when it is valid.
    private string? CheckJwt(string? jwt, string deviceId, out DateTimeOffset expiresAt, out string? key)
    {
        expiresAt = default;
        key = null;
        var parts = (jwt ?? "").Split('.');
        if (parts.Length != 3) return "password is not a JWT";
        string alg;
        long iat, exp;
        string? aud;
        try
        {
            using var header = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[0]));
            alg = header.RootElement.GetProperty("alg").GetString() ?? "";
            using var claims = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
            iat = claims.RootElement.GetProperty("iat").GetInt64();
            exp = claims.RootElement.GetProperty("exp").GetInt64();
            aud = claims.RootElement.GetProperty("aud").GetString();
        }
        catch (Exception ex) when (ex is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            return "JWT header or claims malformed";
        }
        if (alg is not ("ES256" or "RS256")) return "alg must be ES256 or RS256";
        if (aud != _registry.ProjectId) return "aud is not the project id";
        var signed = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        byte[] signature;
        try { signature = Base64Url.DecodeFromChars(parts[2]); }
        catch (FormatException) { return "signature is not base64url"; }
        key = _publicKeys(deviceId).Select(k => k.Key).FirstOrDefault(k => Verifies(alg, k, signed, signature));
        if (key is null) return "signature does not verify with a registered key";
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        if (iat > now) return "iat is in the future";
        if (exp <= now) return "JWT expired";
        if (exp - iat > (long)MaxLifetime.TotalSeconds) return "exp is more than 24 h after iat";
        expiresAt = DateTimeOffset.FromUnixTimeSeconds(exp);
        return null;
    }

    private static bool Verifies(string alg, string pem, byte[] data, byte[] signature)
    {
        var isCertificate = pem.Contains("CERTIFICATE", StringComparison.Ordinal);
        using var certificate = isCertificate ? X509Certificate2.CreateFromPem(pem) : null;
        try
        {
            if (alg == "ES256")
            {
                using var ec = certificate?.GetECDsaPublicKey() ?? ImportEc(pem);
                // JWS ES256 is the raw r||s form.
                return ec is not null && ec.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            }
            using var rsa = certificate?.GetRSAPublicKey() ?? ImportRsa(pem);
            return rsa is not null && rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static ECDsa? ImportEc(string pem)
    {
        var ec = ECDsa.Create();
        try { ec.ImportFromPem(pem); return ec; }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException) { ec.Dispose(); return null; }
    }

    private static RSA? ImportRsa(string pem)
    {
        var rsa = RSA.Create();
        try { rsa.ImportFromPem(pem); return rsa; }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException) { rsa.Dispose(); return null; }
    }

    /// <summary>
    /// Joins the bridge to its registry and Pub/Sub as Cloud IoT Core's bridge is: a blocked device is refused; device events
    /// go to <paramref name="telemetryTopic"/> (those on <paramref name="replySubfolder"/> to <paramref name="replyTopic"/>) before
    /// their PUBACK; device state goes to the registry; configs reach the device (the latest on subscribe, retained);
    /// sendCommandToDevice reaches a device subscribed to <c>/devices/{id}/commands/#</c> and is FAILED_PRECONDITION otherwise;
    /// and a live session ends when its device is blocked or deleted, or the key it authenticated with is removed.
    /// </summary>
    public void RouteFor(CloudIotRegistryDouble registry, PubSubRest pubsub, string telemetryTopic, string replyTopic, string? replySubfolder)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(pubsub);
        _isBlocked = registry.IsBlocked;
        _route = new BridgeRoute(registry, pubsub, telemetryTopic, replyTopic, replySubfolder);
        registry.ConfigSink = (id, _, data) => InjectAsync($"/devices/{id}/config", data, retain: true).GetAwaiter().GetResult();
        registry.CommandSink = DeliverCommand;
        // The registry tells the bridge of every device write before it answers, so the cut is done when the PATCH returns:
        // deterministic for tests, and no later than the bridge's own next check would be.
        registry.DevicesChanged = EnforceRegistryAsync;
    }

    private bool DeliverCommand(string deviceId, string? subfolder, byte[] data)
    {
        var clientId = _registry.Device(deviceId);
        var topic = $"/devices/{deviceId}/commands" + (subfolder is null ? "" : "/" + subfolder);
        if (!_live.TryGetValue(clientId, out var session)
            || !session.Filters.Keys.Any(f => MqttTopicFilterComparer.Compare(topic, f) == MqttTopicFilterCompareResult.IsMatch))
            return false;
        InjectAsync(topic, data, retain: false).GetAwaiter().GetResult();
        return true;
    }

    private async Task InjectAsync(string topic, byte[] payload, bool retain)
    {
        if (_mqtt is null) return;
        var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain).Build();
        await _mqtt.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = BridgeSender }).ConfigureAwait(false);
    }

    private const string BridgeSender = "cloud-iot-bridge";

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string ClientId, ushort PacketId), string> _configDeliveries = new();

    /// <summary>Closes every live session whose device is now blocked or gone, or whose key is no longer registered.</summary>
    private async Task EnforceRegistryAsync()
    {
        var prefix = _registry.Device("");
        foreach (var (clientId, session) in _live.ToArray())
        {
            var key = session.Key;
            var deviceId = clientId[prefix.Length..];
            var reason = _isBlocked(deviceId) ? "device blocked"
                : !_publicKeys(deviceId).Any(k => k.Key == key) ? "credential removed or device deleted" : null;
            if (reason is null) continue;
            // The key stays recorded until the session's disconnect, so a CONNECT still completing now is cut by the next check.
            if (await SessionExpiryEnforcer.CloseSessionAsync(_mqtt, clientId, reason).ConfigureAwait(false))
                _revocationCuts.Enqueue((_time.GetUtcNow(), clientId, reason));
        }
    }

    private async Task InterceptPublishAsync(InterceptingPublishEventArgs e)
    {
        // The bridge's own config and command messages go to their subscriber.
        if (e.ClientId == BridgeSender) return;
        // A device's publishes are the bridge's to forward (to Pub/Sub or the registry), never routed to other clients.
        e.ProcessPublish = false;
        var deviceId = e.ClientId[_registry.Device("").Length..];
        var topic = e.ApplicationMessage.Topic;
        var payload = System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload);
        var events = $"/devices/{deviceId}/events";
        if (topic == events || topic.StartsWith(events + "/", StringComparison.Ordinal))
        {
            _events.Enqueue((_time.GetUtcNow(), deviceId, topic, payload));
            if (_route is not { } route) return;
            route.Registry.RecordActivity(deviceId, "lastEventTime");
            var subfolder = topic.Length > events.Length ? topic[(events.Length + 1)..] : null;
            var attributes = new Dictionary<string, string> { ["deviceId"] = deviceId, ["deviceRegistryId"] = _registry.RegistryId, ["projectId"] = _registry.ProjectId };
            if (subfolder is not null) attributes["subFolder"] = subfolder;
            // The registry's event notification configs: the reply subfolder has its own topic, the rest is telemetry.
            var target = subfolder is not null && subfolder == route.ReplySubfolder ? route.ReplyTopic : route.TelemetryTopic;
            // Awaited here, so the device's PUBACK follows the Pub/Sub publish, as on the real bridge.
            try
            {
                await route.PubSub.PublishAsync(target, payload, attributes).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Cloud IoT Core recorded a failed Pub/Sub forward as the device's last error (lastErrorStatus).
                route.Registry.RecordError(deviceId, 9, "The message could not be published to Cloud Pub/Sub topic " + target + ".");
                throw;
            }
        }
        else if (topic == $"/devices/{deviceId}/state")
        {
            _route?.Registry.ReportState(deviceId, payload);
        }
        else if (topic != $"/devices/{deviceId}/attach" && topic != $"/devices/{deviceId}/detach")
        {
            // A device may publish only to its own events, state (and a gateway's attach/detach) topics; the bridge refused
            // anything else and recorded it as the device's last error (lastErrorTime, lastErrorStatus; INVALID_ARGUMENT).
            _route?.Registry.RecordError(deviceId, 3, $"The device may not publish to topic '{topic}'.");
        }
    }

    private Task<bool> DisconnectAsync(string clientId) => SessionExpiryEnforcer.CloseSessionAsync(_mqtt, clientId, "JWT expired");

    /// <summary>Stops the server.</summary>
    public async ValueTask DisposeAsync()
    {
        _sessions.Dispose();
        if (_mqtt is not null)
        {
            await _mqtt.StopAsync().ConfigureAwait(false);
            _mqtt.Dispose();
        }
        _serverCertificate.Dispose();
        _ca.Dispose();
    }
}
