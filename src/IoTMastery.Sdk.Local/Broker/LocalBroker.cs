using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// The embedded MQTT broker: TLS 1.2+ on 127.0.0.1 with client certificates required. A device may
/// connect only with a certificate from the local CA whose CN is its client id and which the registry
/// still accepts; it may publish and subscribe only on its own <c>devices/{id}/…</c> topics
/// (see <see cref="LocalTopics"/>). Device publishes are routed to telemetry readers, the reported-state
/// sink and waiting command calls. Start with <see cref="StartAsync"/>; restarts keep the bound port.
/// </summary>
internal sealed partial class LocalBroker : IDeviceMessageBus, IAsyncDisposable
{
    /// <summary>The sender id of fleet-side messages; '$' cannot occur in a Local device id, so no device can pose as it.</summary>
    internal const string FleetSenderId = "$fleet";

    private const string Provider = "Local";
    private const string ProtocolVersionItem = "iotmastery.protocol-version";
    // Client ids and topics from the network are logged escaped (ErrorText) and cut at this length.
    private const int MaxLoggedLength = 128;
    private readonly LocalBrokerOptions _options;
    private readonly LocalCertificateAuthority _ca;
    private readonly IDeviceAccessPolicy _policy;
    private readonly ILocalTelemetrySink _telemetry;
    private readonly IReportedStateSink _reportedState;
    private readonly CommandReplyTable _replies;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, int> _sessions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private List<MqttApplicationMessage> _retained = [];
    private MqttServer? _server;
    private AdmittingTlsListener? _listener;
    private X509Certificate2? _serverCertificate;
    private int _boundPort;
    private int _connectChainBuilds;

    /// <summary>Creates a stopped broker.</summary>
    /// <param name="options">Port and limits; validated here.</param>
    /// <param name="ca">Issues the server certificate and is the only trusted issuer of client certificates.</param>
    /// <param name="policy">The registry's say on whether a device and certificate may connect.</param>
    /// <param name="telemetry">Receives the telemetry devices publish, before the broker acknowledges it.</param>
    /// <param name="reportedState">Receives reported-state patches.</param>
    /// <param name="replies">Pending command calls, completed by device replies.</param>
    /// <param name="logger">Connection refusals and routing failures; never secrets.</param>
    public LocalBroker(LocalBrokerOptions options, LocalCertificateAuthority ca, IDeviceAccessPolicy policy,
        ILocalTelemetrySink telemetry, IReportedStateSink reportedState, CommandReplyTable replies, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(telemetry);
        ArgumentNullException.ThrowIfNull(reportedState);
        ArgumentNullException.ThrowIfNull(replies);
        options.Validate();
        _options = options;
        _ca = ca;
        _policy = policy;
        _telemetry = telemetry;
        _reportedState = reportedState;
        _replies = replies;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// Where sessions and publishes are recorded for the presence API, when set (before <see cref="StartAsync"/>). The broker is
    /// the one place that sees every CONNECT, disconnect and publish, so Local presence is exact.
    /// </summary>
    internal PresenceTable? Presence { get; init; }

    /// <summary>
    /// Devices held to firmware-update traffic, when set (before <see cref="StartAsync"/>): such a device receives only
    /// its desired state (where the firmware request travels) and publish only a reported <c>firmware</c> object; nothing
    /// else of its traffic passes, in either direction (see <see cref="DeviceTopicAcl.RestrictedMayPublish"/> and
    /// <see cref="DeviceTopicAcl.RestrictedMayReceive"/>).
    /// </summary>
    internal FirmwareRestrictions? Restrictions { get; init; }

    /// <summary>The bound TLS port; 0 before the first start.</summary>
    public int Port => Volatile.Read(ref _boundPort);

    /// <summary>Connections closed unhandshaken by admission control since the last start (queue full or waited too long).</summary>
    internal int AdmissionRefusals => _listener?.Refused ?? 0;

    /// <summary>Admission slots free now (tests: to know a connection holds one).</summary>
    internal int AdmissionSlotsFree => _listener?.SlotsFree ?? 0;

    /// <summary>Whether the broker is accepting connections.</summary>
    public bool IsRunning => _server?.IsStarted == true;

    /// <summary>Binds 127.0.0.1 and starts accepting devices. After a stop, binds the same port again.</summary>
    /// <exception cref="IoTException">The port could not be bound.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_server is not null) return;
            var port = _boundPort != 0 ? _boundPort : _options.Port;
            _serverCertificate?.Dispose();
            _serverCertificate = _ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback], _options.ServerCertificateValidity);
            // MQTTnet's endpoints stay off: the TLS listener is ours, for admission control (127.0.0.1 only, TLS 1.2+, client certificate required).
            var serverOptions = new MqttServerOptionsBuilder()
                .WithoutDefaultEndpoint()
                .WithMaxPendingMessagesPerClient(_options.MaxPendingMessagesPerClient)
                .Build();
            var listener = new AdmittingTlsListener(_options, port, _serverCertificate, _ca, _logger);
            var server = new MqttServerFactory().CreateMqttServer(serverOptions, [listener]);
            server.ValidatingConnectionAsync += ValidateConnectionAsync;
            server.ClientConnectedAsync += OnClientConnectedAsync;
            server.ClientDisconnectedAsync += OnClientDisconnectedAsync;
            server.InterceptingPublishAsync += InterceptPublishAsync;
            server.InterceptingSubscriptionAsync += InterceptSubscriptionAsync;
            // Only with restrictions: it runs for every message delivered to a device.
            if (Restrictions is not null) server.InterceptingClientEnqueueAsync += InterceptEnqueueAsync;
            server.RetainedMessageChangedAsync += e =>
            {
                Volatile.Write(ref _retained, e.StoredRetainedMessages.ToList());
                return Task.CompletedTask;
            };
            server.LoadingRetainedMessageAsync += e =>
            {
                // Keeps desired state (retained) across a stop and start of the broker.
                e.LoadedRetainedMessages = Volatile.Read(ref _retained).ToList();
                return Task.CompletedTask;
            };
            try
            {
                await server.StartAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or InvalidOperationException)
            {
                server.Dispose();
                throw new IoTException(IoTErrorKind.Unknown, $"The local broker could not listen on 127.0.0.1:{port}: {ex.Message}", Provider, "BindFailed", isTransient: true, innerException: ex);
            }
            Volatile.Write(ref _boundPort, listener.Port);
            _listener = listener;
            _server = server;
            Log.Listening(_logger, Port);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Closes every connection and stops listening; <see cref="StartAsync"/> may be called again.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_server is not { } server) return;
            _server = null;
            _listener = null;
            try
            {
                await server.StopAsync().ConfigureAwait(false);
            }
            finally
            {
                server.Dispose();
                // Sessions whose disconnect the stopping server did not report are over all the same.
                foreach (var (clientId, count) in _sessions)
                    if (count > 0) Presence?.Observe(clientId, connected: false, reason: "BrokerStopped");
                _sessions.Clear();
            }
            Log.Stopped(_logger, Port);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <inheritdoc />
    public bool IsConnected(string deviceId) => _sessions.TryGetValue(deviceId, out var count) && count > 0;

    /// <inheritdoc />
    public async Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, bool retain, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        if (!topic.StartsWith(LocalTopics.Prefix, StringComparison.Ordinal) || topic.AsSpan().IndexOfAny("#+") >= 0)
            throw new ArgumentException($"Fleet messages go to '{LocalTopics.Prefix}…' topics without wildcards; got '{ErrorText.Escape(topic, MaxLoggedLength)}'.", nameof(topic));
        var server = _server ?? throw NotRunning();
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload.ToArray())
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag(retain)
            .Build();
        await server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = FleetSenderId }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DisconnectAsync(string deviceId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        if (_server is not { } server) return;
        var clients = await server.GetClientsAsync().ConfigureAwait(false);
        foreach (var client in clients.Where(c => string.Equals(c.Id, deviceId, StringComparison.Ordinal)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await client.DisconnectAsync(new MqttServerClientDisconnectOptions { ReasonCode = MqttDisconnectReasonCode.NotAuthorized }).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.CloseSessionFailed(_logger, deviceId, ErrorText.Name(ex));
            }
        }
    }

    /// <summary>Stops the broker.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _serverCertificate?.Dispose();
        _lifecycle.Dispose();
    }

    private async Task ValidateConnectionAsync(ValidatingConnectionEventArgs e)
    {
        string? reason;
        try
        {
            reason = await CheckConnectionAsync(e.ClientId, e.ClientCertificate, _listener?.ClientChainVerdict(e.ChannelAdapter)).ConfigureAwait(false);
        }
        finally
        {
            // The CONNECT is decided: the next waiting connection may start its handshake.
            _listener?.ConnectAnswered(e.ChannelAdapter);
        }
        if (reason is null) return;
        e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
        Log.ClientRefused(_logger, ErrorText.Escape(e.ClientId, MaxLoggedLength), reason);
    }

    /// <summary>CONNECTs whose certificate chain was built again here because the handshake's verdict was no longer known (tests).</summary>
    internal int ConnectChainBuilds => Volatile.Read(ref _connectChainBuilds);

    // chainValid: the handshake's verdict on the same certificate, built with the CA's own policy (null: unknown).
    private async Task<string?> CheckConnectionAsync(string? clientId, X509Certificate2? certificate, bool? chainValid)
    {
        if (!DeviceIdRules.Local.IsValid(clientId)) return "the client id is not a valid device id";
        if (certificate is null) return "no client certificate";
        if (chainValid is null) Interlocked.Increment(ref _connectChainBuilds);
        if (!(chainValid ?? _ca.ValidateClientCertificate(certificate))) return "the certificate is not a valid client certificate of the local CA";
        if (!string.Equals(LocalCertificateAuthority.GetCommonName(certificate), clientId, StringComparison.Ordinal))
            return "the certificate's CN is not the client id";
        var thumbprint = certificate.GetCertHashString(HashAlgorithmName.SHA256).ToUpperInvariant();
        try
        {
            if (!await _policy.CanConnectAsync(clientId!, thumbprint, CancellationToken.None).ConfigureAwait(false))
                return "the registry does not accept this device and certificate (unknown, disabled or revoked)";
        }
        catch (Exception ex)
        {
            Log.AccessPolicyFailed(_logger, ex, clientId);
            return "the access policy failed";
        }
        return null;
    }

    private Task OnClientConnectedAsync(ClientConnectedEventArgs e)
    {
        // Runs before the session's first publish is processed; decides how a refused publish is signalled.
        e.SessionItems[ProtocolVersionItem] = e.ProtocolVersion;
        // Only the first session is a connect: a takeover by a new CONNECT of the same id overlaps the old session briefly.
        if (_sessions.AddOrUpdate(e.ClientId, 1, (_, n) => n + 1) == 1)
            Presence?.Observe(e.ClientId, connected: true);
        return Task.CompletedTask;
    }

    private Task OnClientDisconnectedAsync(ClientDisconnectedEventArgs e)
    {
        // Only a device that was counted connected is reported gone (a stop clears the counts first).
        var wasConnected = _sessions.TryGetValue(e.ClientId, out var before) && before > 0;
        if (_sessions.AddOrUpdate(e.ClientId, 0, (_, n) => Math.Max(0, n - 1)) == 0)
        {
            _sessions.TryRemove(new KeyValuePair<string, int>(e.ClientId, 0));
            if (wasConnected) Presence?.Observe(e.ClientId, connected: false, reason: DisconnectReason(e));
        }
        return Task.CompletedTask;
    }

    // MQTTnet's view: Clean (DISCONNECT sent), NotClean (connection lost or keep-alive expired), Takeover; plus the reason code.
    private static string DisconnectReason(ClientDisconnectedEventArgs e) =>
        e.ReasonCode is null or MqttDisconnectReasonCode.NormalDisconnection ? e.DisconnectType.ToString() : $"{e.DisconnectType}: {e.ReasonCode}";

    private Task OnActivityAsync(string clientId)
    {
        Presence?.Activity(clientId);
        return Task.CompletedTask;
    }

    private async Task InterceptPublishAsync(InterceptingPublishEventArgs e)
    {
        if (e.ClientId == FleetSenderId) return;
        await OnActivityAsync(e.ClientId).ConfigureAwait(false);
        var topic = e.ApplicationMessage.Topic;
        var route = DeviceTopicAcl.ClassifyPublish(e.ClientId, topic, out var requestId);
        // Device topics are consumed here; nobody else may subscribe to them, so they are never forwarded.
        e.ProcessPublish = false;
        if (route != DevicePublishRoute.Refused && Restrictions?.IsRestricted(e.ClientId) == true
            && !DeviceTopicAcl.RestrictedMayPublish(route, e.ApplicationMessage.Payload))
        {
            Refuse(e, MqttPubAckReasonCode.NotAuthorized);
            Log.RestrictedPublishRefused(_logger, route, e.ClientId);
            return;
        }
        switch (route)
        {
            case DevicePublishRoute.Telemetry:
                if (RouteTelemetry(e.ClientId, e.ApplicationMessage.Payload) is { } refusal)
                {
                    var reason = refusal == TelemetryIntake.Full ? MqttPubAckReasonCode.QuotaExceeded : MqttPubAckReasonCode.ImplementationSpecificError;
                    Refuse(e, reason);
                    Log.TelemetryPublishRefused(_logger, e.ClientId, reason);
                }
                break;
            case DevicePublishRoute.ReportedState:
                if (!await RouteReportedStateAsync(e.ClientId, e.ApplicationMessage.Payload.ToArray(), e.CancellationToken).ConfigureAwait(false))
                    Refuse(e, MqttPubAckReasonCode.PayloadFormatInvalid);
                break;
            case DevicePublishRoute.Reply:
                if (!_replies.TryComplete(e.ClientId, requestId!, e.ApplicationMessage.Payload.ToArray()))
                    Log.UnmatchedReply(_logger, ErrorText.Escape(requestId), e.ClientId);
                break;
            default:
                Refuse(e, MqttPubAckReasonCode.NotAuthorized);
                Log.PublishRefused(_logger, e.ClientId, ErrorText.Escape(topic, MaxLoggedLength));
                break;
        }
    }

    /// <summary>
    /// Refuses a publish so the device sees it: MQTT 5 gets a PUBACK with <paramref name="reason"/>; MQTT 3.1.1 has no negative
    /// PUBACK (any PUBACK reads as success), so its connection is closed unacknowledged and the device's publish fails.
    /// </summary>
    private static void Refuse(InterceptingPublishEventArgs e, MqttPubAckReasonCode reason)
    {
        if (e.SessionItems[ProtocolVersionItem] is MqttProtocolVersion.V500)
            e.Response.ReasonCode = reason;
        else
            e.CloseConnection = true;
    }

    /// <summary>Routes a telemetry batch; returns why the sink refused it, or null when it was taken (or dropped as malformed).</summary>
    private TelemetryIntake? RouteTelemetry(string deviceId, in ReadOnlySequence<byte> payload)
    {
        // Decoded straight from MQTTnet's buffer into the thread's reused list; the sinks copy what they keep before Accept returns.
        var records = TelemetryBatchDecoder.ThreadBuffer();
        try
        {
            TelemetryRecord.DecodeBatch(payload, records);
        }
        catch (FormatException ex)
        {
            _telemetry.CountRejected(1);
            Log.MalformedTelemetryDropped(_logger, deviceId, ErrorText.Name(ex));
            // Acknowledged anyway: a batch that can never parse must not be retried forever.
            return null;
        }
        var foreign = RemoveForeign(records, deviceId);
        if (foreign > 0)
        {
            _telemetry.CountRejected(foreign);
            Log.ForeignRecordsDropped(_logger, foreign, deviceId);
        }
        if (records.Count == 0) return null;
        var intake = _telemetry.Accept(records);
        return intake == TelemetryIntake.Accepted ? null : intake;
    }

    // A device may only speak for itself; in place and without a closure, as this runs for every batch.
    private static int RemoveForeign(List<TelemetryRecord> records, string deviceId)
    {
        int kept = 0;
        for (int i = 0; i < records.Count; i++)
            if (string.Equals(records[i].DeviceId, deviceId, StringComparison.Ordinal))
                records[kept++] = records[i];
        int removed = records.Count - kept;
        records.RemoveRange(kept, removed);
        return removed;
    }

    private async Task<bool> RouteReportedStateAsync(string deviceId, byte[] payload, CancellationToken cancellationToken)
    {
        // Strict: JsonNode.Parse alone accepted invalid UTF-8 in strings (the publish acknowledged, the text stored altered) and left duplicate keys to fail later as an error log.
        var patch = StrictJson.TryParseObject(payload);
        if (patch is null)
        {
            Log.ReportedStateDropped(_logger, deviceId);
            return false;
        }
        try
        {
            await _reportedState.ApplyReportedAsync(deviceId, patch, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.ReportedStateFailed(_logger, ex, deviceId);
            return false;
        }
    }

    private Task InterceptSubscriptionAsync(InterceptingSubscriptionEventArgs e)
    {
        if (DeviceTopicAcl.MaySubscribe(e.ClientId, e.TopicFilter.Topic)) return Task.CompletedTask;
        e.ProcessSubscription = false;
        e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
        Log.SubscriptionRefused(_logger, e.ClientId, ErrorText.Escape(e.TopicFilter.Topic, MaxLoggedLength));
        return Task.CompletedTask;
    }

    /// <summary>
    /// Withholds everything but the desired state from a restricted device. Its command subscription itself is granted: the
    /// device client subscribes before it connects, so refusing the SUBSCRIBE would refuse the connection and lock the device
    /// out of the very update that lifts the restriction. Deliveries resume, on the same subscription, once it lifts.
    /// </summary>
    private Task InterceptEnqueueAsync(InterceptingClientApplicationMessageEnqueueEventArgs e)
    {
        if (Restrictions?.IsRestricted(e.ReceiverClientId) == true && !DeviceTopicAcl.RestrictedMayReceive(e.ReceiverClientId, e.ApplicationMessage.Topic))
            e.AcceptEnqueue = false;
        return Task.CompletedTask;
    }

    private static IoTException NotRunning() => new(IoTErrorKind.Unknown, "The local broker is not running.", Provider, "BrokerNotRunning", isTransient: true);
}
