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
/// reported state.
/// </summary>
internal sealed class LocalDeviceConnection : IDeviceConnection
{
    private const string Provider = "Local";
    private readonly MqttDeviceClient _client;
    private readonly TelemetryPipeline _pipeline;
    private readonly X509Certificate2 _certificate;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _disposed = new();
    private readonly DeviceHandlerSlots _slots = new();
    private bool _subscribed;
    private int _disposedFlag;

    /// <summary>Creates a disconnected connection.</summary>
    /// <exception cref="ArgumentException">The device id breaks the Local rules or the credential is not a certificate with its key.</exception>
    public LocalDeviceConnection(DeviceConnectionOptions options, LocalDeviceEndpoint endpoint, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(endpoint);
        DeviceIdRules.Local.Validate(options.DeviceId, nameof(options));
        ArgumentNullException.ThrowIfNull(options.Credential);
        if (options.Credential.Info.Kind != CredentialKind.X509Certificate || options.Credential.CertificatePem is null || options.Credential.PrivateKeyPem is null)
            throw new ArgumentException($"Local devices connect with an X.509 certificate and its private key; credential '{ErrorText.Escape(options.Credential.Id)}' is a {options.Credential.Info.Kind} credential without one.", nameof(options));
        options.Telemetry.Validate();
        DeviceId = options.DeviceId;
        var time = timeProvider ?? TimeProvider.System;
        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger<LocalDeviceConnection>();
        _certificate = options.Credential.ToCertificate();
        _client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = endpoint.Host,
            Port = endpoint.Port,
            ClientId = DeviceId,
            ClientCertificate = _certificate,
            TrustedRoots = [endpoint.CaCertificate],
            ReconnectBaseDelay = endpoint.ReconnectBaseDelay,
            ReconnectMaxDelay = endpoint.ReconnectMaxDelay,
            ConnectTimeout = options.ConnectTimeout,
            ConnectRetryBudget = options.ConnectRetryBudget,
        }, Provider, time, loggerFactory.CreateLogger<MqttDeviceClient>());
        _pipeline = new TelemetryPipeline(new MqttTelemetryTransport(_client, LocalTopics.Telemetry(DeviceId)), options.Telemetry, time, loggerFactory.CreateLogger<TelemetryPipeline>());
    }

    /// <inheritdoc />
    public string DeviceId { get; }

    /// <inheritdoc />
    public bool IsConnected => _client.IsConnected;

    /// <summary>The MQTT connection, for its Connected/Disconnected signals.</summary>
    internal MqttDeviceClient Client => _client;

    /// <inheritdoc />
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposedFlag != 0, this);
        if (!_subscribed)
        {
            // Registered before connecting, so they are sent on this and every later connect.
            await _client.SubscribeAsync(LocalTopics.CommandFilter(DeviceId), OnCommandAsync, cancellationToken: cancellationToken).ConfigureAwait(false);
            await _client.SubscribeAsync(LocalTopics.DesiredState(DeviceId), OnDesiredStateAsync, cancellationToken: cancellationToken).ConfigureAwait(false);
            _subscribed = true;
        }
        await _client.ConnectAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask SendTelemetryAsync(TelemetryRecord record, CancellationToken cancellationToken = default)
    {
        DeviceHandlerSlots.ValidateRecord(record, DeviceId);
        return _pipeline.WriteAsync(record, cancellationToken);
    }

    /// <inheritdoc />
    public Task FlushAsync(CancellationToken cancellationToken = default) => _pipeline.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public void SetCommandHandler(CommandHandler handler) => _slots.SetCommandHandler(handler);

    /// <inheritdoc />
    public void SetDesiredStateHandler(DesiredStateHandler handler)
    {
        var pending = _slots.SetDesiredStateHandler(handler);
        // A document that arrived before the handler was set is still "the current desired state on connect".
        if (pending is not null) _ = DeliverDesiredAsync(pending, _disposed.Token);
    }

    /// <inheritdoc />
    public async Task ReportStateAsync(JsonObject patch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patch);
        // The broker would refuse what the state service refuses; failing here names the limit before the network.
        var payload = JsonLimits.Serialize(patch, LocalStateService.MaxDocumentBytes, "A state patch", nameof(patch));
        await _client.PublishAsync(LocalTopics.ReportedState(DeviceId), payload, MqttQualityOfService.AtLeastOnce, retain: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposedFlag, 1) != 0) return;
        // The pipeline drains first (bounded by its DrainTimeout) while the connection is still up.
        await _pipeline.DisposeAsync().ConfigureAwait(false);
        await _disposed.CancelAsync().ConfigureAwait(false);
        await _client.DisposeAsync().ConfigureAwait(false);
        _certificate.Dispose();
        _disposed.Dispose();
    }

    private ValueTask OnCommandAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // devices/{id}/commands/{name}/{requestId}
        var levels = message.Topic.Split('/');
        if (levels.Length != 5)
        {
            _logger.LogWarning("Ignored a command on unexpected topic '{Topic}'.", ErrorText.Escape(message.Topic, 128));
            return ValueTask.CompletedTask;
        }
        // Each command runs on its own so a slow handler does not hold up desired state or other commands.
        _ = HandleCommandAsync(levels[3], levels[4], message.Payload, cancellationToken);
        return ValueTask.CompletedTask;
    }

    private async Task HandleCommandAsync(string name, string requestId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (await _slots.RunCommandAsync(name, payload, "the command payload is not JSON", _logger, cancellationToken).ConfigureAwait(false) is not { } response) return;
        try
        {
            // Held to the fleet's limits: a reply it cannot read used to fail here unobserved and leave the caller to time out.
            JsonLimits.Serialize(response.Payload, LocalCommandService.MaxPayloadBytes, "A command reply payload", "payload");
        }
        catch (ArgumentException ex)
        {
            _logger.LogWarning("The handler's reply to command '{Command}' breaks a limit; answering 500: {Message}", ErrorText.Escape(name), ex.Message);
            response = new CommandResponse(500, new JsonObject { ["error"] = ex.Message });
        }
        var reply = new JsonObject { ["status"] = response.Status, ["payload"] = response.Payload?.DeepClone() };
        try
        {
            await _client.PublishAsync(LocalTopics.Reply(DeviceId, requestId), JsonSerializer.SerializeToUtf8Bytes(reply), MqttQualityOfService.AtLeastOnce, retain: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IoTException or OperationCanceledException)
        {
            _logger.LogWarning("The reply to command '{Command}' ({RequestId}) was not delivered: {Message}", ErrorText.Escape(name), ErrorText.Escape(requestId), ex.Message);
        }
    }

    private async ValueTask OnDesiredStateAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        if (ParseDesired(message.Payload.Span) is not { } change)
        {
            _logger.LogWarning("Ignored a desired-state document that is not JSON with a numeric version and a desired object.");
            return;
        }
        // Retained redelivery on reconnect and out-of-order publishes must never move the device backwards.
        if (!_slots.OfferNewerDesired(change)) return;
        await DeliverDesiredAsync(change, cancellationToken).ConfigureAwait(false);
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

    private async Task DeliverDesiredAsync(DesiredStateChange change, CancellationToken cancellationToken)
    {
        if (!_slots.TryBeginDelivery(change, out var handler)) return;
        try
        {
            await handler(change, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _logger.LogError(ex, "The desired-state handler failed for version {Version}.", change.Version);
        }
    }
}
