using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Gcp;

/// <summary>What every device connection of one provider shares.</summary>
internal sealed record GcpDeviceEndpoint(GcpIoTOptions Options, PubSubClient PubSub);

/// <summary>Creates <see cref="GcpDeviceConnection"/>s.</summary>
internal sealed class GcpDeviceConnectionFactory(GcpDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory loggers)
{
    public IDeviceConnection Create(DeviceConnectionOptions options) => new GcpDeviceConnection(options, endpoint, time, loggers);
}

/// <summary>
/// One device over the bridge protocol (<see cref="GcpBridgeClient"/>, JWT signed with the credential's private key).
/// Telemetry goes through a <see cref="TelemetryPipeline"/> as bridge events (or straight to Pub/Sub); configs become
/// desired-state changes (version from the document's <c>$version</c>); reported state is kept here and published
/// whole on the state topic, because Cloud IoT stores each state as a full document; commands are answered with an
/// event on the reply subfolder (<see cref="GcpCommandWire"/>). The lifecycle is <see cref="MqttDeviceConnection"/>'s.
/// </summary>
internal sealed partial class GcpDeviceConnection : MqttDeviceConnection
{
    private readonly GcpBridgeClient _bridge;
    private readonly string _replySubfolder;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _reportGate = new(1, 1);
    private long _configsSeen;
    private JsonObject _reported = [];

    public GcpDeviceConnection(DeviceConnectionOptions options, GcpDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory loggers)
        : base(time, loggers.CreateLogger<GcpDeviceConnection>())
    {
        Validate(options, DeviceIdRules.Gcp);
        if (options.Credential.PrivateKeyPem is null)
            throw new ArgumentException($"Gcp devices sign JWTs with their private key; credential '{ErrorText.Escape(options.Credential.Id)}' carries none.", nameof(options));
        if (string.IsNullOrEmpty(endpoint.Options.Transport.DeviceHost))
            throw new InvalidOperationException("GcpIoTOptions.Transport.DeviceHost (the MQTT bridge host) is not set, so devices have nowhere to connect.");
        var deviceId = options.DeviceId;
        _replySubfolder = endpoint.Options.CommandReplySubfolder;
        _bridge = new GcpBridgeClient(new GcpBridgeOptions
        {
            Host = endpoint.Options.Transport.DeviceHost,
            Port = endpoint.Options.Transport.DevicePort,
            TrustedRoots = endpoint.Options.Transport.TrustedRoots,
            Registry = endpoint.Options.Registry,
            DeviceId = deviceId,
            PrivateKeyPem = options.Credential.PrivateKeyPem,
            JwtLifetime = endpoint.Options.JwtLifetime,
            ConnectTimeout = options.ConnectTimeout,
            ConnectRetryBudget = options.ConnectRetryBudget,
        }, time, loggers.CreateLogger<GcpBridgeClient>());
        TelemetryPipeline pipeline;
        if (endpoint.Options.DeviceTelemetryToPubSub)
        {
            pipeline = new PubSubTelemetryTransport(endpoint.PubSub, endpoint.Options.TelemetryTopicId!, orderByDevice: false)
                .CreatePipeline(options.Telemetry, time, loggers.CreateLogger<TelemetryPipeline>());
        }
        else
        {
            var topic = GcpBridgeClient.Topic(deviceId, "events");
            // Bridge events are at most 256 KB; 100 per second per device is the published device-to-cloud limit.
            var limits = new TelemetryTransportLimits { MaxMessageBytes = 256 * 1024, MaxMessagesPerSecond = 100 };
            pipeline = new TelemetryPipeline(new MqttTelemetryTransport(_bridge.Mqtt, topic, limits), options.Telemetry, time, loggers.CreateLogger<TelemetryPipeline>());
        }
        // The bridge's MQTT client is the connection's: the base disposes it (GcpBridgeClient.DisposeAsync does only that).
        Initialize(deviceId, _bridge.Mqtt, pipeline);
    }

    protected override async Task SubscribeBeforeConnectAsync(CancellationToken cancellationToken)
    {
        // Registered before connecting so they are (re)sent with every session: the bridge uses clean sessions.
        await EnsureSubscribedAsync(GcpBridgeClient.Topic(DeviceId, "config"), (m, ct) => OnConfigAsync(m.Payload, ct), MqttQualityOfService.AtLeastOnce, cancellationToken).ConfigureAwait(false);
        await EnsureSubscribedAsync(GcpBridgeClient.CommandFilter(DeviceId), OnCommandAsync, MqttQualityOfService.AtLeastOnce, cancellationToken).ConfigureAwait(false);
    }

    protected override void OnDesiredStateHandlerSet(DesiredStateChange? stored) => RunInBackground(DeliverLatestAsync);

    protected override async Task ReportStateCoreAsync(JsonObject patch, CancellationToken cancellationToken)
    {
        await _reportGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var next = JsonMergePatch.Apply(_reported, patch);
            var bytes = Encoding.UTF8.GetBytes(next.ToJsonString());
            if (bytes.Length > 64 * 1024)
                throw new IoTException(IoTErrorKind.PayloadTooLarge, $"The reported document is {bytes.Length} bytes; Cloud IoT states are at most 65536.", GoogleApiErrors.Provider);
            await _bridge.PublishStateAsync(bytes, cancellationToken: cancellationToken).ConfigureAwait(false);
            _reported = next;
        }
        finally
        {
            _reportGate.Release();
        }
    }

    private async ValueTask OnConfigAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var document = GcpStateService.ParseObject(data.ToArray());
        long version;
        lock (_lock)
        {
            _configsSeen++;
            version = document[GcpStateService.VersionProperty] is JsonValue v && v.TryGetValue<long>(out var n) ? n : _configsSeen;
            document.Remove(GcpStateService.VersionProperty);
            // Unlike Local, the newest config replaces the stored one whatever its version; delivery still never goes back.
            Slots.ReplaceDesired(new DesiredStateChange(document, version));
        }
        await DeliverLatestAsync(cancellationToken).ConfigureAwait(false);
    }

    private ValueTask OnCommandAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        var subfolder = GcpBridgeClient.CommandSubfolder(DeviceId, message.Topic);
        if (!GcpCommandWire.TryParseRequest(message.Payload, out var requestId, out var name, out var payload))
        {
            Log.ForeignCommandDropped(Logger, DeviceId, ErrorText.Escape(subfolder, 128));
            return ValueTask.CompletedTask;
        }
        DispatchCommand(name, stopping => RunCommandAsync(name, payload, stopping),
            response => _bridge.PublishEventAsync(GcpCommandWire.Reply(requestId, response), _replySubfolder));
        return ValueTask.CompletedTask;
    }

    // The payload is already parsed by GcpCommandWire, and a failure answers with the exception type, so only the slot and the 501 are shared.
    private async Task<CommandResponse?> RunCommandAsync(string name, JsonNode? payload, CancellationToken cancellationToken)
    {
        if (Slots.CommandHandler is not { } handler) return DeviceHandlerSlots.NotImplemented;
        try
        {
            return await handler(new DeviceCommand { Name = name, Payload = payload }, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception ex)
        {
            Log.CommandHandlerFailed(Logger, ex, DeviceId, ErrorText.Escape(name));
            return new CommandResponse(500, new JsonObject { ["error"] = ex.GetType().Name });
        }
    }

    protected override ValueTask DisposeResourcesAsync()
    {
        _reportGate.Dispose();
        return ValueTask.CompletedTask;
    }

    public override string ToString() => $"GcpDeviceConnection {{ Device = {DeviceId}, private key redacted }}";
}
