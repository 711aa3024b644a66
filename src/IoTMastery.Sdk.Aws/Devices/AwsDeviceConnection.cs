using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Aws;

/// <summary>Where and how devices connect.</summary>
internal sealed record AwsDeviceEndpoint(string Host, int Port, X509Certificate2Collection? TrustedRoots)
{
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// A device on AWS IoT Core over MQTT with X.509 mutual TLS: telemetry through the shared pipeline within AWS's
/// per-connection limits, desired state (the desired <c>firmware</c> object included, like on every provider) from the
/// classic shadow (get + delta), commands on the SDK's request/response topics. The lifecycle is
/// <see cref="MqttDeviceConnection"/>'s.
/// </summary>
internal sealed partial class AwsDeviceConnection : MqttDeviceConnection
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

    private readonly X509Certificate2 _certificate;
    private readonly Lock _lock = new();
    private JsonObject _shadowDesired = [];
    private string? _deliveredJson;
    private long _shadowVersion;

    public AwsDeviceConnection(DeviceConnectionOptions options, AwsDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory loggers)
        : base(time, loggers.CreateLogger<AwsDeviceConnection>())
    {
        Validate(options, DeviceIdRules.Aws);
        _certificate = RequireCertificate(options, "AWS IoT devices");
        var client = CreateClient(new MqttDeviceClientOptions
        {
            Host = endpoint.Host,
            Port = endpoint.Port,
            // Thing policy variables require the client id to be the thing name.
            ClientId = options.DeviceId,
            ClientCertificate = _certificate,
            TrustedRoots = endpoint.TrustedRoots,
            ApplicationProtocols = endpoint.Port == 443 ? [new SslApplicationProtocol(AwsIoTProvider.MqttAlpn)] : null,
            ReconnectBaseDelay = endpoint.ReconnectBaseDelay,
            ReconnectMaxDelay = endpoint.ReconnectMaxDelay,
        }, options, AwsIoTProvider.ProviderName, time, loggers);
        var topic = AwsTopics.Telemetry(options.DeviceId);
        Initialize(options.DeviceId, client, new TelemetryPipeline(new MqttTelemetryTransport(client, topic, Limits(topic)), options.Telemetry, time, loggers.CreateLogger<TelemetryPipeline>()));
    }

    protected override async Task SubscribeBeforeConnectAsync(CancellationToken cancellationToken)
    {
        // AWS allows 8 filters per SUBSCRIBE and 50 per connection; these are 4.
        const MqttQualityOfService q = MqttQualityOfService.AtLeastOnce;
        await EnsureSubscribedAsync(AwsTopics.CommandFilter(DeviceId), OnCommandAsync, q, cancellationToken).ConfigureAwait(false);
        await EnsureSubscribedAsync(AwsTopics.ShadowGetAccepted(DeviceId), OnShadowDocumentAsync, q, cancellationToken).ConfigureAwait(false);
        await EnsureSubscribedAsync(AwsTopics.ShadowDelta(DeviceId), OnShadowDeltaAsync, q, cancellationToken).ConfigureAwait(false);
        await EnsureSubscribedAsync(AwsTopics.ShadowUpdateRejected(DeviceId), OnRejectedAsync, q, cancellationToken).ConfigureAwait(false);
    }

    // Aws derives desired state from the shadow itself, so the slot's stored change is unused.
    protected override void OnDesiredStateHandlerSet(DesiredStateChange? stored) => RunInBackground(DeliverAsync);

    protected override void OnConnected() => RunInBackground(_ => RequestCurrentAsync());

    protected override async Task ReportStateCoreAsync(JsonObject patch, CancellationToken cancellationToken)
    {
        var update = new JsonObject { ["state"] = new JsonObject { ["reported"] = patch.DeepClone() } };
        await Client.PublishAsync(AwsTopics.ShadowUpdate(DeviceId), JsonSerializer.SerializeToUtf8Bytes(update), MqttQualityOfService.AtLeastOnce, false, cancellationToken).ConfigureAwait(false);
    }

    protected override ValueTask DisposeResourcesAsync()
    {
        _certificate.Dispose();
        return ValueTask.CompletedTask;
    }

    // On every (re)connect: ask for the current shadow; the answer arrives on the accepted topic.
    // Not cancelled by the dispose (which waits for it): a publish cut off mid-flight drops the connection uncleanly, and AWS
    // then reports CONNECTION_LOST instead of CLIENT_INITIATED_DISCONNECT. The client's OperationTimeout bounds it.
    private async Task RequestCurrentAsync()
    {
        try
        {
            await Client.PublishAsync(AwsTopics.ShadowGet(DeviceId), ReadOnlyMemory<byte>.Empty, MqttQualityOfService.AtLeastOnce, false).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IoTException or OperationCanceledException or ObjectDisposedException)
        {
            Log.ShadowGetFailed(Logger, DeviceId, ErrorText.Name(ex));
        }
    }

    private ValueTask OnCommandAsync(MqttIncomingMessage message, CancellationToken ct)
    {
        // iotmastery/{thing}/commands/{name}/{requestId}
        var levels = message.Topic.Split('/');
        if (levels.Length != 5) return ValueTask.CompletedTask;
        var (name, requestId) = (levels[3], levels[4]);
        DispatchCommand(name, JsonCommand(name, message.Payload, "the command payload is not JSON"), response =>
        {
            var reply = new JsonObject { ["status"] = response.Status, ["payload"] = response.Payload?.DeepClone() };
            return Client.PublishAsync(AwsTopics.Reply(DeviceId, requestId), JsonSerializer.SerializeToUtf8Bytes(reply), MqttQualityOfService.AtLeastOnce, false);
        });
        return ValueTask.CompletedTask;
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

    // A delta carries only the difference; the full desired document comes from a fresh get. Not cancelled by the dispose, as
    // RequestCurrentAsync.
    private async ValueTask OnShadowDeltaAsync(MqttIncomingMessage message, CancellationToken ct) =>
        await Client.PublishAsync(AwsTopics.ShadowGet(DeviceId), ReadOnlyMemory<byte>.Empty, MqttQualityOfService.AtLeastOnce, false, CancellationToken.None).ConfigureAwait(false);

    private ValueTask OnRejectedAsync(MqttIncomingMessage message, CancellationToken ct)
    {
        var doc = Parse(message.Payload);
        // Type-checked: the (int?) and (string?) casts threw on a string code or a numeric message.
        Log.ShadowUpdateRejected(Logger, DeviceId, doc?["code"] is JsonValue c && c.TryGetValue(out int code) ? code : null, ErrorText.Escape(Text(doc?["message"]), 256));
        return ValueTask.CompletedTask;
    }

    // Desired state = the shadow's desired section; the firmware engine writes desired "firmware" there as on every provider.
    private async Task DeliverAsync(CancellationToken ct)
    {
        DesiredStateHandler? handler;
        DesiredStateChange change;
        lock (_lock)
        {
            handler = Slots.DesiredHandler;
            if (handler is null) return;
            var desired = _shadowDesired.DeepClone().AsObject();
            var json = desired.ToJsonString();
            if (json == _deliveredJson) return;
            _deliveredJson = json;
            // The shadow version, which the fleet side reads as DesiredVersion.
            change = new DesiredStateChange(desired, _shadowVersion);
        }
        await InvokeDesiredHandlerAsync(handler, change, ct).ConfigureAwait(false);
    }

    // Strict: with JsonNode.Parse, duplicate keys or bad strings threw later out of the shadow and rejected handlers.
    internal static JsonObject? Parse(ReadOnlyMemory<byte> payload) => payload.IsEmpty ? null : StrictJson.TryParseObject(payload.Span);

    private static string? Text(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
}

/// <summary>Creates device connections to the configured endpoint.</summary>
internal sealed class AwsDeviceConnectionFactory(Func<AwsDeviceEndpoint> endpoint, TimeProvider time, ILoggerFactory loggers)
{
    public IDeviceConnection Create(DeviceConnectionOptions options) => new AwsDeviceConnection(options, endpoint(), time, loggers);
}
