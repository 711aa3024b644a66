using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Aws.Devices;

/// <summary>Where and how devices connect.</summary>
internal sealed record AwsDeviceEndpoint(string Host, int Port, X509Certificate2Collection? TrustedRoots)
{
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// A device on AWS IoT Core over MQTT with X.509 mutual TLS: telemetry through the shared pipeline within AWS's
/// per-connection limits, desired state (the desired <c>firmware</c> object included, like on every provider) from the
/// classic shadow (get + delta), commands on the SDK's request/response topics.
/// </summary>
internal sealed class AwsDeviceConnection : IDeviceConnection
{
    /// <summary>AWS IoT Core limits per connection (AWS IoT Core quotas and pricing): 128 KB, 100 publishes/s, 512 KiB/s, billed per 5 KB incl. topic.</summary>
    internal static TelemetryTransportLimits Limits(string topic) => new()
    {
        MaxMessageBytes = 128 * 1024,
        BillingUnitBytes = 5 * 1024,
        BillingOverheadBytes = Encoding.UTF8.GetByteCount(topic),
        MaxMessagesPerSecond = 100,
        MaxBytesPerSecond = 512 * 1024,
    };

    private readonly MqttDeviceClient _client;
    private readonly TelemetryPipeline _pipeline;
    private readonly X509Certificate2 _certificate;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _disposed = new();
    private readonly Lock _lock = new();
    private readonly DeviceHandlerSlots _slots = new();
    private JsonObject _shadowDesired = [];
    private string? _deliveredJson;
    private long _shadowVersion;
    private bool _subscribed;
    private int _disposedFlag;
    private readonly TimeProvider _time;
    private Task _requestCurrent = Task.CompletedTask;

    public AwsDeviceConnection(DeviceConnectionOptions options, AwsDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        DeviceIdRules.Aws.Validate(options.DeviceId, nameof(options));
        ArgumentNullException.ThrowIfNull(options.Credential, nameof(options));
        if (options.Credential.Info.Kind != CredentialKind.X509Certificate || options.Credential.CertificatePem is null || options.Credential.PrivateKeyPem is null)
            throw new ArgumentException($"AWS IoT devices connect with an X.509 certificate and its private key; credential '{ErrorText.Escape(options.Credential.Id)}' has none.", nameof(options));
        options.Telemetry.Validate();
        DeviceId = options.DeviceId;
        _time = time;
        _logger = loggers.CreateLogger<AwsDeviceConnection>();
        _certificate = options.Credential.ToCertificate();
        _client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = endpoint.Host,
            Port = endpoint.Port,
            // Thing policy variables require the client id to be the thing name.
            ClientId = DeviceId,
            ClientCertificate = _certificate,
            TrustedRoots = endpoint.TrustedRoots,
            ApplicationProtocols = endpoint.Port == 443 ? [new SslApplicationProtocol(AwsIoTProvider.MqttAlpn)] : null,
            ReconnectBaseDelay = endpoint.ReconnectBaseDelay,
            ReconnectMaxDelay = endpoint.ReconnectMaxDelay,
            ConnectTimeout = options.ConnectTimeout,
            ConnectRetryBudget = options.ConnectRetryBudget,
        }, AwsIoTProvider.ProviderName, time, loggers.CreateLogger<MqttDeviceClient>());
        var topic = AwsTopics.Telemetry(DeviceId);
        _pipeline = new TelemetryPipeline(new MqttTelemetryTransport(_client, topic, Limits(topic)), options.Telemetry, time, loggers.CreateLogger<TelemetryPipeline>());
        _client.Connected += (_, _) => Volatile.Write(ref _requestCurrent, RequestCurrentAsync());
    }

    public string DeviceId { get; }

    public bool IsConnected => _client.IsConnected;

    internal MqttDeviceClient Client => _client;

    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposedFlag != 0, this);
        if (!_subscribed)
        {
            // AWS allows 8 filters per SUBSCRIBE and 50 per connection; these are 4.
            await _client.SubscribeAsync(AwsTopics.CommandFilter(DeviceId), OnCommandAsync, cancellationToken: cancellationToken).ConfigureAwait(false);
            await _client.SubscribeAsync(AwsTopics.ShadowGetAccepted(DeviceId), OnShadowDocumentAsync, cancellationToken: cancellationToken).ConfigureAwait(false);
            await _client.SubscribeAsync(AwsTopics.ShadowDelta(DeviceId), OnShadowDeltaAsync, cancellationToken: cancellationToken).ConfigureAwait(false);
            await _client.SubscribeAsync(AwsTopics.ShadowUpdateRejected(DeviceId), OnRejectedAsync, cancellationToken: cancellationToken).ConfigureAwait(false);
            _subscribed = true;
        }
        await _client.ConnectAsync(cancellationToken).ConfigureAwait(false);
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
        // Aws derives desired state from the shadow document itself, so the slot's stored change is unused.
        _slots.SetDesiredStateHandler(handler);
        _ = DeliverAsync(_disposed.Token);
    }

    public async Task ReportStateAsync(JsonObject patch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patch);
        var update = new JsonObject { ["state"] = new JsonObject { ["reported"] = patch.DeepClone() } };
        await _client.PublishAsync(AwsTopics.ShadowUpdate(DeviceId), JsonSerializer.SerializeToUtf8Bytes(update), MqttQualityOfService.AtLeastOnce, false, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposedFlag, 1) != 0) return;
        await _pipeline.DisposeAsync().ConfigureAwait(false);
        try
        {
            // Cancelling a publish mid-flight drops the connection uncleanly (AWS then reports CONNECTION_LOST, not
            // CLIENT_INITIATED_DISCONNECT), so let the on-connect requests finish first, within a bound.
            await Volatile.Read(ref _requestCurrent).WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        await _disposed.CancelAsync().ConfigureAwait(false);
        await _client.DisposeAsync().ConfigureAwait(false);
        _certificate.Dispose();
        _disposed.Dispose();
    }

    // On every (re)connect: ask for the current shadow; the answer arrives on the accepted topic.
    private async Task RequestCurrentAsync()
    {
        try
        {
            await _client.PublishAsync(AwsTopics.ShadowGet(DeviceId), ReadOnlyMemory<byte>.Empty, MqttQualityOfService.AtLeastOnce, false, _disposed.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IoTException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("Could not request the current shadow: {Message}", ex.Message);
        }
    }

    private ValueTask OnCommandAsync(MqttIncomingMessage message, CancellationToken ct)
    {
        // iotmastery/{thing}/commands/{name}/{requestId}
        var levels = message.Topic.Split('/');
        if (levels.Length == 5) _ = HandleCommandAsync(levels[3], levels[4], message.Payload, ct);
        return ValueTask.CompletedTask;
    }

    private async Task HandleCommandAsync(string name, string requestId, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        if (await _slots.RunCommandAsync(name, payload, "the command payload is not JSON", _logger, ct).ConfigureAwait(false) is not { } response) return;
        var reply = new JsonObject { ["status"] = response.Status, ["payload"] = response.Payload?.DeepClone() };
        try
        {
            await _client.PublishAsync(AwsTopics.Reply(DeviceId, requestId), JsonSerializer.SerializeToUtf8Bytes(reply), MqttQualityOfService.AtLeastOnce, false, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IoTException or OperationCanceledException)
        {
            _logger.LogWarning("The reply to command '{Command}' was not delivered: {Message}", name, ex.Message);
        }
    }

    private async ValueTask OnShadowDocumentAsync(MqttIncomingMessage message, CancellationToken ct)
    {
        if (Parse(message.Payload) is not { } doc) return;
        var version = doc["version"] is JsonValue v && v.TryGetValue(out long n) ? n : 0;
        lock (_lock)
        {
            // An older get answer arriving late must not take the device back.
            if (version < _shadowVersion) return;
            _shadowVersion = version;
            _shadowDesired = doc["state"]?["desired"]?.DeepClone() as JsonObject ?? [];
        }
        await DeliverAsync(ct).ConfigureAwait(false);
    }

    // A delta carries only the difference; the full desired document comes from a fresh get.
    private async ValueTask OnShadowDeltaAsync(MqttIncomingMessage message, CancellationToken ct) =>
        await _client.PublishAsync(AwsTopics.ShadowGet(DeviceId), ReadOnlyMemory<byte>.Empty, MqttQualityOfService.AtLeastOnce, false, ct).ConfigureAwait(false);

    private ValueTask OnRejectedAsync(MqttIncomingMessage message, CancellationToken ct)
    {
        var doc = Parse(message.Payload);
        // Type-checked: the (int?) and (string?) casts threw on a string code or a numeric message.
        _logger.LogWarning("AWS IoT rejected a shadow update: {Code} {Message}", doc?["code"] is JsonValue c && c.TryGetValue(out int code) ? code : null, Text(doc?["message"]));
        return ValueTask.CompletedTask;
    }

    // Desired state = the shadow's desired section; the firmware engine writes desired "firmware" there as on every provider.
    private async Task DeliverAsync(CancellationToken ct)
    {
        DesiredStateHandler? handler;
        DesiredStateChange change;
        lock (_lock)
        {
            handler = _slots.DesiredHandler;
            if (handler is null) return;
            var desired = _shadowDesired.DeepClone().AsObject();
            var json = desired.ToJsonString();
            if (json == _deliveredJson) return;
            _deliveredJson = json;
            // The shadow version, which the fleet side reads as DesiredVersion.
            change = new DesiredStateChange(desired, _shadowVersion);
        }
        try
        {
            await handler(change, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            _logger.LogError(ex, "The desired-state handler failed.");
        }
    }

    // Strict: with JsonNode.Parse, duplicate keys or bad strings threw later out of the shadow and rejected handlers.
    internal static JsonObject? Parse(ReadOnlyMemory<byte> payload) => payload.IsEmpty ? null : StrictJson.TryParseObject(payload.Span);

    private static string? Text(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
}

/// <summary>Creates device connections to the configured endpoint.</summary>
internal sealed class AwsDeviceConnectionFactory(Func<AwsDeviceEndpoint> endpoint, TimeProvider time, ILoggerFactory loggers) : IDeviceConnectionFactory
{
    public IDeviceConnection Create(DeviceConnectionOptions options) => new AwsDeviceConnection(options, endpoint(), time, loggers);
}
