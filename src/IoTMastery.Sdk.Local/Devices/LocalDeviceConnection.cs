using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Local;

/// <summary>Where and how Local devices connect: the broker address, the CA to trust and reconnect pacing.</summary>
internal sealed record LocalDeviceEndpoint
{
    /// <summary>The broker host; the server certificate carries <c>localhost</c> and <c>127.0.0.1</c>. Default 127.0.0.1.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The broker's TLS port.</summary>
    public required int Port { get; init; }

    /// <summary>The local CA certificate, the only trusted root for the broker's certificate.</summary>
    public required X509Certificate2 CaCertificate { get; init; }

    /// <summary>First reconnect delay cap. Default 1 s.</summary>
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest reconnect delay. Default 30 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// A device's connection to the embedded broker: mutual TLS with the device certificate, telemetry through
/// the shared pipeline, command replies, desired state (retained, never going back in version) and
/// reported state. The lifecycle is <see cref="MqttDeviceConnection"/>'s; this class supplies the Local topics.
/// </summary>
internal sealed partial class LocalDeviceConnection : MqttDeviceConnection
{
    private const string Provider = "Local";
    private readonly X509Certificate2 _certificate;

    /// <summary>
    /// The socket buffers a Local device gets unless <see cref="DeviceConnectionOptions.SocketBufferBytes"/> says otherwise: the Local
    /// broker turns Nagle's algorithm off on its side, so larger buffers cost no held-back PUBACKs, and telemetry batches leave in
    /// one write each (benchmarks/README.md, "Socket buffers").
    /// </summary>
    internal const int DefaultSocketBufferBytes = 512 * 1024;

    /// <summary>Creates a disconnected connection.</summary>
    /// <exception cref="ArgumentException">The device id breaks the Local rules or the credential is not a certificate with its key.</exception>
    public LocalDeviceConnection(DeviceConnectionOptions options, LocalDeviceEndpoint endpoint, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
        : base(timeProvider ?? TimeProvider.System, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<LocalDeviceConnection>())
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        Validate(options, DeviceIdRules.Local);
        var time = timeProvider ?? TimeProvider.System;
        loggerFactory ??= NullLoggerFactory.Instance;
        _certificate = RequireCertificate(options, "Local devices");
        var client = CreateClient(new MqttDeviceClientOptions
        {
            Host = endpoint.Host,
            Port = endpoint.Port,
            ClientId = options.DeviceId,
            ClientCertificate = _certificate,
            TrustedRoots = [endpoint.CaCertificate],
            ReconnectBaseDelay = endpoint.ReconnectBaseDelay,
            ReconnectMaxDelay = endpoint.ReconnectMaxDelay,
            SocketBufferBytes = DefaultSocketBufferBytes,
        }, options, Provider, time, loggerFactory);
        var pipeline = new TelemetryPipeline(new MqttTelemetryTransport(client, LocalTopics.Telemetry(options.DeviceId)), options.Telemetry, time, loggerFactory.CreateLogger<TelemetryPipeline>());
        Initialize(options.DeviceId, client, pipeline);
    }

    /// <inheritdoc />
    protected override async Task SubscribeBeforeConnectAsync(CancellationToken cancellationToken)
    {
        await EnsureSubscribedAsync(LocalTopics.CommandFilter(DeviceId), OnCommandAsync, MqttQualityOfService.AtLeastOnce, cancellationToken).ConfigureAwait(false);
        await EnsureSubscribedAsync(LocalTopics.DesiredState(DeviceId), OnDesiredStateAsync, MqttQualityOfService.AtLeastOnce, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override void OnDesiredStateHandlerSet(DesiredStateChange? stored)
    {
        // A document that arrived before the handler was set is still "the current desired state on connect".
        if (stored is not null) RunInBackground(stopping => DeliverIfNewerAsync(stored, stopping));
    }

    /// <inheritdoc />
    protected override async Task ReportStateCoreAsync(JsonObject patch, CancellationToken cancellationToken)
    {
        // The broker would refuse what the state service refuses; failing here names the limit before the network.
        var payload = JsonLimits.Serialize(patch, LocalStateService.MaxDocumentBytes, "A state patch", nameof(patch));
        await Client.PublishAsync(LocalTopics.ReportedState(DeviceId), payload, MqttQualityOfService.AtLeastOnce, retain: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override ValueTask DisposeResourcesAsync()
    {
        _certificate.Dispose();
        return ValueTask.CompletedTask;
    }

    private ValueTask OnCommandAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // devices/{id}/commands/{name}/{requestId}
        var levels = message.Topic.Split('/');
        if (levels.Length != 5)
        {
            Log.UnexpectedCommandTopic(Logger, DeviceId, ErrorText.Escape(message.Topic, 128));
            return ValueTask.CompletedTask;
        }
        var (name, requestId) = (levels[3], levels[4]);
        DispatchCommand(name, JsonCommand(name, message.Payload, "the command payload is not JSON"), response => ReplyAsync(name, requestId, response));
        return ValueTask.CompletedTask;
    }

    private async Task ReplyAsync(string name, string requestId, CommandResponse response)
    {
        try
        {
            // Held to the fleet's limits: a reply it cannot read used to fail here unobserved and leave the caller to time out.
            JsonLimits.Serialize(response.Payload, LocalCommandService.MaxPayloadBytes, "A command reply payload", "payload");
        }
        catch (ArgumentException ex)
        {
            Log.ReplyBreaksLimit(Logger, DeviceId, ErrorText.Escape(name), ex.ParamName);
            response = new CommandResponse(500, new JsonObject { ["error"] = ex.Message });
        }
        var reply = new JsonObject { ["status"] = response.Status, ["payload"] = response.Payload?.DeepClone() };
        await Client.PublishAsync(LocalTopics.Reply(DeviceId, requestId), JsonSerializer.SerializeToUtf8Bytes(reply), MqttQualityOfService.AtLeastOnce, retain: false).ConfigureAwait(false);
    }

    private async ValueTask OnDesiredStateAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        if (ParseDesired(message.Payload.Span) is not { } change)
        {
            Log.DesiredStateDropped(Logger, DeviceId);
            return;
        }
        // Retained redelivery on reconnect and out-of-order publishes must never move the device backwards.
        if (!Slots.OfferNewerDesired(change)) return;
        await DeliverIfNewerAsync(change, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The <c>{"version":n,"desired":{…}}</c> document, or null when it is not that or not well-formed JSON.</summary>
    internal static DesiredStateChange? ParseDesired(ReadOnlySpan<byte> payload)
    {
        // Strict: with JsonNode.Parse a duplicate "version" threw ArgumentException out of the handler, and bad strings reached the app.
        if (StrictJson.TryParseObject(payload) is not { } doc
            || doc["version"] is not JsonValue v || !v.TryGetValue(out long version)
            || doc["desired"] is not JsonObject desired)
            return null;
        return new DesiredStateChange((JsonObject)desired.DeepClone(), version);
    }
}
