using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Gcp;

/// <summary>What every device connection of one provider shares.</summary>
internal sealed record GcpDeviceEndpoint(GcpIoTOptions Options, PubSubClient PubSub);

/// <summary>Creates <see cref="GcpDeviceConnection"/>s.</summary>
internal sealed class GcpDeviceConnectionFactory(GcpDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory loggers) : IDeviceConnectionFactory
{
    public IDeviceConnection Create(DeviceConnectionOptions options) => new GcpDeviceConnection(options, endpoint, time, loggers);
}

/// <summary>
/// One device over the bridge protocol (<see cref="GcpBridgeClient"/>, JWT signed with the credential's private key).
/// Telemetry goes through a <see cref="TelemetryPipeline"/> as bridge events (or straight to Pub/Sub); configs become
/// desired-state changes (version from the document's <c>$version</c>); reported state is kept here and published
/// whole on the state topic, because Cloud IoT stores each state as a full document; commands are answered with an
/// event on the reply subfolder (<see cref="GcpCommandWire"/>).
/// </summary>
internal sealed class GcpDeviceConnection : IDeviceConnection
{
    private readonly GcpBridgeClient _bridge;
    private readonly TelemetryPipeline _pipeline;
    private readonly string _replySubfolder;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _reportGate = new(1, 1);
    private readonly CancellationTokenSource _disposed = new();
    private readonly DeviceHandlerSlots _slots = new();
    private long _configsSeen;
    private JsonObject _reported = [];
    private bool _subscribed;
    private int _disposedFlag;

    public GcpDeviceConnection(DeviceConnectionOptions options, GcpDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        DeviceIdRules.Gcp.Validate(options.DeviceId, nameof(options));
        ArgumentNullException.ThrowIfNull(options.Credential, nameof(options));
        if (options.Credential.PrivateKeyPem is null)
            throw new ArgumentException($"Gcp devices sign JWTs with their private key; credential '{ErrorText.Escape(options.Credential.Id)}' carries none.", nameof(options));
        if (string.IsNullOrEmpty(endpoint.Options.BridgeHost))
            throw new InvalidOperationException("GcpIoTOptions.BridgeHost is not set, so devices have nowhere to connect.");
        options.Telemetry.Validate();
        DeviceId = options.DeviceId;
        _replySubfolder = endpoint.Options.CommandReplySubfolder;
        _logger = loggers.CreateLogger<GcpDeviceConnection>();
        _bridge = new GcpBridgeClient(new GcpBridgeOptions
        {
            Host = endpoint.Options.BridgeHost,
            Port = endpoint.Options.BridgePort,
            TrustedRoots = endpoint.Options.BridgeTrustedRoots,
            Registry = endpoint.Options.Registry,
            DeviceId = DeviceId,
            PrivateKeyPem = options.Credential.PrivateKeyPem,
            JwtLifetime = endpoint.Options.JwtLifetime,
            ConnectTimeout = options.ConnectTimeout,
            ConnectRetryBudget = options.ConnectRetryBudget,
        }, time, loggers.CreateLogger<GcpBridgeClient>());
        if (endpoint.Options.DeviceTelemetry == GcpDeviceTelemetryRoute.PubSubDirect)
        {
            _pipeline = new PubSubTelemetryTransport(endpoint.PubSub, endpoint.Options.TelemetryTopicId!, orderByDevice: false)
                .CreatePipeline(options.Telemetry, time, loggers.CreateLogger<TelemetryPipeline>());
        }
        else
        {
            var topic = GcpBridgeClient.Topic(DeviceId, "events");
            // Bridge events are at most 256 KB; 100 per second per device is the published device-to-cloud limit.
            var limits = new TelemetryTransportLimits { MaxMessageBytes = 256 * 1024, MaxMessagesPerSecond = 100 };
            _pipeline = new TelemetryPipeline(new MqttTelemetryTransport(_bridge.Mqtt, topic, limits), options.Telemetry, time, loggers.CreateLogger<TelemetryPipeline>());
        }
    }

    public string DeviceId { get; }

    public bool IsConnected => _bridge.Mqtt.IsConnected;

    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposedFlag != 0, this);
        if (!_subscribed)
        {
            // Registered before connecting so they are (re)sent with every session: the bridge uses clean sessions.
            await _bridge.SubscribeConfigAsync(OnConfigAsync, cancellationToken: cancellationToken).ConfigureAwait(false);
            await _bridge.SubscribeCommandsAsync(OnCommandAsync, cancellationToken: cancellationToken).ConfigureAwait(false);
            _subscribed = true;
        }
        await _bridge.ConnectAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask SendTelemetryAsync(TelemetryRecord record, CancellationToken cancellationToken = default)
    {
        DeviceHandlerSlots.ValidateRecord(record, DeviceId);
        return _pipeline.WriteAsync(record, cancellationToken);
    }

    public Task FlushAsync(CancellationToken cancellationToken = default) => _pipeline.FlushAsync(cancellationToken);

    public void SetCommandHandler(CommandHandler handler) => _slots.SetCommandHandler(handler);

    public void SetDesiredStateHandler(DesiredStateHandler handler)
    {
        _slots.SetDesiredStateHandler(handler);
        _ = DeliverAsync(_disposed.Token);
    }

    public async Task ReportStateAsync(JsonObject patch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patch);
        await _reportGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var next = JsonMergePatch.Apply(_reported, patch);
            var bytes = Encoding.UTF8.GetBytes(next.ToJsonString());
            if (bytes.Length > 64 * 1024)
                throw new PayloadTooLargeException($"The reported document is {bytes.Length} bytes; Cloud IoT states are at most 65536.", GoogleApiErrors.Provider, bytes.Length, 64 * 1024);
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
            _slots.ReplaceDesired(new DesiredStateChange(document, version));
        }
        await DeliverAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Hands the latest config to the handler once per version, never going back.</summary>
    private async Task DeliverAsync(CancellationToken cancellationToken)
    {
        if (!_slots.TryBeginLatestDelivery(out var handler, out var latest)) return;
        try
        {
            await handler(new DesiredStateChange((JsonObject)latest.Desired.DeepClone(), latest.Version), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogWarning(ex, "The desired-state handler of {DeviceId} failed for version {Version}.", DeviceId, latest.Version);
        }
    }

    private async ValueTask OnCommandAsync(string? subfolder, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (!GcpCommandWire.TryParseRequest(data, out var requestId, out var name, out var payload))
        {
            _logger.LogWarning("Device {DeviceId} ignored a command in subfolder {Subfolder} that is not an IoTMastery request.", DeviceId, subfolder);
            return;
        }
        CommandResponse response;
        // The payload is already parsed by GcpCommandWire, and a failure answers with the exception type, so only the slot and the 501 are shared.
        var handler = _slots.CommandHandler;
        if (handler is null)
        {
            response = DeviceHandlerSlots.NotImplemented;
        }
        else
        {
            try
            {
                response = await handler(new DeviceCommand { Name = name, Payload = payload }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.LogWarning(ex, "The command handler of {DeviceId} failed for {Command}.", DeviceId, name);
                response = new CommandResponse(500, new JsonObject { ["error"] = ex.GetType().Name });
            }
        }
        await _bridge.PublishEventAsync(GcpCommandWire.Reply(requestId, response), _replySubfolder, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposedFlag, 1) != 0) return;
        await _disposed.CancelAsync().ConfigureAwait(false);
        await _pipeline.DisposeAsync().ConfigureAwait(false);
        await _bridge.DisposeAsync().ConfigureAwait(false);
        _disposed.Dispose();
        _reportGate.Dispose();
    }

    public override string ToString() => $"GcpDeviceConnection {{ Device = {DeviceId}, private key redacted }}";
}
