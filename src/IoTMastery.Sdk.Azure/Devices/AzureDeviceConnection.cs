using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Azure;

/// <summary>A cloud-to-device message.</summary>
/// <param name="Body">The message body.</param>
/// <param name="Properties">System (<c>$.mid</c>, <c>$.cid</c> …) and application properties; a property without a value is null.</param>
public sealed record CloudToDeviceMessage(ReadOnlyMemory<byte> Body, IReadOnlyDictionary<string, string?> Properties);

/// <summary>Handles a cloud-to-device message; returning acknowledges it (MQTT PUBACK), which is IoT Hub's "complete".</summary>
public delegate ValueTask CloudToDeviceHandler(CloudToDeviceMessage message, CancellationToken cancellationToken);

/// <summary>
/// One device's IoT Hub connection over MQTT 3.1.1 on TLS (port 8883): SAS (renewed by reconnecting before expiry) or X.509
/// authentication, telemetry through the shared pipeline, cloud-to-device messages, twin desired/reported state with
/// <c>$rid</c> correlation and version ordering, and direct methods. Thread-safe.
/// </summary>
public sealed class AzureDeviceConnection : IDeviceConnection
{
    private const string Provider = IotHubErrors.Provider;
    private readonly MqttDeviceClient _client;
    private readonly TelemetryPipeline _pipeline;
    private readonly X509Certificate2? _certificate;
    private readonly ILogger _logger;
    private readonly TimeSpan _operationTimeout;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<(int Status, string Query, ReadOnlyMemory<byte> Body)>> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _desiredGate = new(1, 1);
    // Held across the handler call: deliveries start from several places (patch, reconnect, new handler), and two
    // running at once could hand version 1 to the handler after version 2.
    private readonly SemaphoreSlim _deliveryGate = new(1, 1);
    private readonly SemaphoreSlim _subscribeGate = new(1, 1);
    private Subscription _subscriptions;
    private readonly CancellationTokenSource _disposed = new();
    private readonly DeviceHandlerSlots _slots = new();
    private CloudToDeviceHandler? _cloudToDeviceHandler;
    private JsonObject? _desired;
    private long _desiredVersion = -1;
    private long _deliveredVersion = -1;
    private int _disposedFlag;

    internal AzureDeviceConnection(DeviceConnectionOptions options, AzureDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory? loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        DeviceIdRules.Azure.Validate(options.DeviceId, nameof(options));
        ArgumentNullException.ThrowIfNull(options.Credential);
        options.Telemetry.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger<AzureDeviceConnection>();
        DeviceId = options.DeviceId;
        _operationTimeout = endpoint.OperationTimeout;
        var userName = endpoint.HostName + "/" + DeviceId + "/?api-version=" + IotHubHttpClient.ApiVersion
            + "&DeviceClientType=" + Uri.EscapeDataString(AzureIoTProvider.UserAgent);
        MqttCredentialProvider credentials;
        switch (options.Credential.Info.Kind)
        {
            case CredentialKind.SymmetricKey when options.Credential.SymmetricKey is { } key:
                SasToken.DecodeKey(key, nameof(options));
                var resource = SasToken.DeviceResource(endpoint.HostName, DeviceId);
                var ttl = endpoint.SasTimeToLive;
                credentials = _ =>
                {
                    var expires = time.GetUtcNow() + ttl;
                    return ValueTask.FromResult(new MqttCredentials(userName, SasToken.Create(resource, key, expires), expires));
                };
                break;
            case CredentialKind.X509Certificate when options.Credential.CertificatePem is not null && options.Credential.PrivateKeyPem is not null:
                _certificate = options.Credential.ToCertificate();
                // X.509 devices send the user name and no password.
                credentials = _ => ValueTask.FromResult(new MqttCredentials(userName, null));
                break;
            default:
                throw new ArgumentException($"Azure devices connect with a SAS key or an X.509 certificate with its private key; credential '{ErrorText.Escape(options.Credential.Id)}' ({options.Credential.Info.Kind}) has neither.", nameof(options));
        }
        _client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = endpoint.GatewayHost ?? endpoint.HostName,
            Port = endpoint.Port,
            ClientId = DeviceId,
            ClientCertificate = _certificate,
            TrustedRoots = endpoint.TrustedRoots,
            CredentialProvider = credentials,
            // Renew a quarter of the lifetime before expiry, as the Node SDK does (900 s of 3600 s).
            CredentialRenewalMargin = endpoint.SasTimeToLive / 4,
            Version = MqttVersion.Mqtt311,
            CleanSession = false,
            KeepAlive = endpoint.KeepAlive,
            OperationTimeout = endpoint.OperationTimeout,
            ReconnectBaseDelay = endpoint.ReconnectBaseDelay,
            ReconnectMaxDelay = endpoint.ReconnectMaxDelay,
            ConnectTimeout = options.ConnectTimeout,
            ConnectRetryBudget = options.ConnectRetryBudget,
        }, Provider, time, loggerFactory.CreateLogger<MqttDeviceClient>());
        _client.Connected += (_, _) => _ = RefreshDesiredAsync();
        Transport = new AzureTelemetryTransport(_client, DeviceId, endpoint.TelemetryProperties);
        _pipeline = new TelemetryPipeline(Transport, options.Telemetry, time, loggerFactory.CreateLogger<TelemetryPipeline>());
    }

    /// <inheritdoc />
    public string DeviceId { get; }

    /// <inheritdoc />
    public bool IsConnected => _client.IsConnected;

    internal AzureTelemetryTransport Transport { get; }

    internal MqttDeviceClient Client => _client;

    /// <inheritdoc />
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposedFlag != 0, this);
        // Like the official SDK, a topic is subscribed only once something needs it; filters registered before connecting
        // go out right after CONNECT and again after every reconnect (the hub allows five subscriptions).
        // Methods always: without a handler the neutral contract answers 501 rather than letting the call time out.
        await EnsureSubscribedAsync(Subscription.Methods, cancellationToken).ConfigureAwait(false);
        if (_slots.DesiredHandler is not null)
        {
            await EnsureSubscribedAsync(Subscription.TwinResponses, cancellationToken).ConfigureAwait(false);
            await EnsureSubscribedAsync(Subscription.Desired, cancellationToken).ConfigureAwait(false);
        }
        await _client.ConnectAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask SendTelemetryAsync(TelemetryRecord record, CancellationToken cancellationToken = default)
    {
        DeviceHandlerSlots.ValidateRecord(record, DeviceId);
        return _pipeline.WriteAsync(record, cancellationToken);
    }

    /// <summary>Sends one device-to-cloud message with properties directly (not through the telemetry pipeline); completes on PUBACK.</summary>
    /// <param name="body">The body, at most 256 KB with its properties.</param>
    /// <param name="properties">System properties (<c>$.mid</c>, <c>$.ct</c>, <c>$.ce</c> …) and application properties, in topic order.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <exception cref="PayloadTooLargeException">The message is larger than 256 KB.</exception>
    public async Task SendMessageAsync(ReadOnlyMemory<byte> body, IEnumerable<KeyValuePair<string, string?>>? properties = null, CancellationToken cancellationToken = default)
    {
        var bag = (properties ?? []).ToList();
        var size = body.Length + bag.Sum(p => Encoding.UTF8.GetByteCount(p.Key) + Encoding.UTF8.GetByteCount(p.Value ?? ""));
        if (size > AzureTelemetryTransport.MaxMessageBytes)
            throw new PayloadTooLargeException($"IoT Hub messages are at most {AzureTelemetryTransport.MaxMessageBytes} bytes with their properties; this one is {size}.", Provider, size, AzureTelemetryTransport.MaxMessageBytes);
        await _client.PublishAsync(AzureTopics.Events(DeviceId) + AzureTopics.EncodeBag(bag), body, MqttQualityOfService.AtLeastOnce, false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task FlushAsync(CancellationToken cancellationToken = default) => _pipeline.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public void SetCommandHandler(CommandHandler handler) => _slots.SetCommandHandler(handler);

    /// <summary>
    /// Receives cloud-to-device messages with <paramref name="handler"/>: subscribes to <c>devices/{id}/messages/devicebound/#</c>
    /// (QoS 1) now and after every reconnect. Like the official SDK, a device that never calls this does not subscribe.
    /// </summary>
    public async Task EnableCloudToDeviceAsync(CloudToDeviceHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Volatile.Write(ref _cloudToDeviceHandler, handler);
        await EnsureSubscribedAsync(Subscription.CloudToDevice, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void SetDesiredStateHandler(DesiredStateHandler handler)
    {
        // The twin (_desired/_desiredVersion) is the store here, so the slot's stored change is unused.
        _slots.SetDesiredStateHandler(handler);
        if (Volatile.Read(ref _desired) is not null) _ = DeliverCurrentAsync(_disposed.Token);
        else if (_client.IsConnected) _ = RefreshDesiredAsync();
    }

    /// <summary>Reads the whole twin (<c>$iothub/twin/GET</c>): <c>{"desired":{…,"$version":n},"reported":{…,"$version":m}}</c>.</summary>
    public async Task<JsonObject> GetTwinAsync(CancellationToken cancellationToken = default)
    {
        // A single space, as the official SDK sends.
        var (_, _, body) = await RequestAsync(AzureTopics.TwinGet, " "u8.ToArray(), cancellationToken).ConfigureAwait(false);
        return ParseTwin(body.Span);
    }

    /// <summary>A twin document; IoTException <c>InvalidTwin</c> when it is not a well-formed JSON object.</summary>
    internal static JsonObject ParseTwin(ReadOnlySpan<byte> body) =>
        // Strict: JsonNode.Parse threw a bare JsonException here, and lazy errors (duplicate keys, bad strings) escaped later from RefreshDesiredAsync.
        StrictJson.TryParseObject(body) ?? throw new IoTException("IoT Hub sent a twin that is not a well-formed JSON object.", Provider, "InvalidTwin");

    /// <summary>A desired-properties patch with its <c>$version</c>, or null when the payload is not a well-formed JSON object.</summary>
    internal static (JsonObject Properties, long Version)? ParseDesiredPatch(ReadOnlySpan<byte> payload) =>
        StrictJson.TryParseObject(payload) is { } patch ? TwinMapping.Section(patch) : null;

    /// <inheritdoc />
    public async Task ReportStateAsync(JsonObject patch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patch);
        var payload = JsonSerializer.SerializeToUtf8Bytes(patch);
        if (payload.Length > 32 * 1024)
            throw new PayloadTooLargeException("Reported properties are at most 32 KB.", Provider, payload.Length, 32 * 1024);
        await RequestAsync(AzureTopics.ReportedPatch, payload, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposedFlag, 1) != 0) return;
        await _pipeline.DisposeAsync().ConfigureAwait(false);
        await _disposed.CancelAsync().ConfigureAwait(false);
        await _client.DisposeAsync().ConfigureAwait(false);
        foreach (var pending in _pending.Values) pending.TrySetCanceled();
        _certificate?.Dispose();
    }

    private async Task<(int Status, string Query, ReadOnlyMemory<byte> Body)> RequestAsync(Func<string, string> topic, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await EnsureSubscribedAsync(Subscription.TwinResponses, cancellationToken).ConfigureAwait(false);
        var rid = Guid.NewGuid().ToString();
        var completion = new TaskCompletionSource<(int, string, ReadOnlyMemory<byte>)>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[rid] = completion;
        try
        {
            await _client.PublishAsync(topic(rid), payload, MqttQualityOfService.AtMostOnce, false, cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
            timeout.CancelAfter(_operationTimeout);
            (int Status, string Query, ReadOnlyMemory<byte> Body) response;
            try
            {
                response = await completion.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw new IoTException($"IoT Hub did not answer the twin request within {_operationTimeout.TotalSeconds:0} s.", Provider, "TwinTimeout", isTransient: true, innerException: ex);
            }
            if (response.Status >= 300)
            {
                var text = Encoding.UTF8.GetString(response.Body.Span);
                throw IotHubErrors.ToException(IotHubErrors.Parse(response.Status, text, null), DeviceId, null);
            }
            return response;
        }
        finally
        {
            _pending.TryRemove(rid, out _);
        }
    }

    private async Task EnsureSubscribedAsync(Subscription subscription, CancellationToken cancellationToken)
    {
        await _subscribeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if ((_subscriptions & subscription) != 0) return;
            var (filter, handler, qos) = subscription switch
            {
                Subscription.Methods => (AzureTopics.MethodFilter, (MqttMessageHandler)OnMethodAsync, MqttQualityOfService.AtMostOnce),
                Subscription.TwinResponses => (AzureTopics.TwinResponseFilter, OnTwinResponseAsync, MqttQualityOfService.AtMostOnce),
                Subscription.Desired => (AzureTopics.DesiredFilter, OnDesiredPatchAsync, MqttQualityOfService.AtMostOnce),
                _ => (AzureTopics.CloudToDeviceFilter(DeviceId), (MqttMessageHandler)OnCloudToDeviceAsync, MqttQualityOfService.AtLeastOnce),
            };
            await _client.SubscribeAsync(filter, handler, qos, cancellationToken).ConfigureAwait(false);
            _subscriptions |= subscription;
        }
        finally
        {
            _subscribeGate.Release();
        }
    }

    [Flags]
    private enum Subscription
    {
        Methods = 1,
        TwinResponses = 2,
        Desired = 4,
        CloudToDevice = 8,
    }

    private ValueTask OnTwinResponseAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // $iothub/twin/res/{status}/?$rid={rid}[&$version={n}]
        if (!AzureTopics.TryParseResponse(message.Topic, AzureTopics.TwinResponsePrefix, out var status, out var query)) return ValueTask.CompletedTask;
        if (query.GetValueOrDefault("$rid") is { } rid && _pending.TryGetValue(rid, out var pending))
            pending.TrySetResult((status, message.Topic[(message.Topic.IndexOf('/', AzureTopics.TwinResponsePrefix.Length) + 1)..], message.Payload));
        return ValueTask.CompletedTask;
    }

    private ValueTask OnDesiredPatchAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // Strict: duplicate keys or bad strings used to throw out of ApplyDesiredPatchAsync, a fire-and-forget task.
        if (ParseDesiredPatch(message.Payload.Span) is not { } patch)
        {
            _logger.LogWarning("Ignored a desired-properties patch that is not a JSON object.");
            return ValueTask.CompletedTask;
        }
        // Applied off the dispatch loop: a gap triggers a twin GET whose answer arrives through that loop.
        _ = ApplyDesiredPatchAsync(patch, _disposed.Token);
        return ValueTask.CompletedTask;
    }

    private async Task ApplyDesiredPatchAsync((JsonObject Properties, long Version) patch, CancellationToken cancellationToken)
    {
        var (properties, version) = patch;
        var refresh = false;
        await _desiredGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Before the first twin read completes, or after a missed version, only a fresh read is trustworthy.
            if (_desired is null) refresh = true;
            else if (version <= _desiredVersion) return;
            else if (version == _desiredVersion + 1)
            {
                _desired = JsonMergePatch.Apply(_desired, properties);
                _desiredVersion = version;
            }
            else
                refresh = true;
        }
        finally
        {
            _desiredGate.Release();
        }
        if (refresh) await RefreshDesiredAsync().ConfigureAwait(false);
        else await DeliverCurrentAsync(cancellationToken).ConfigureAwait(false);
    }

    // After every (re)connect and after a version gap: the hub does not queue desired patches for offline devices.
    private async Task RefreshDesiredAsync()
    {
        if (_slots.DesiredHandler is null) return;
        try
        {
            await EnsureSubscribedAsync(Subscription.Desired, _disposed.Token).ConfigureAwait(false);
            var twin = await GetTwinAsync(_disposed.Token).ConfigureAwait(false);
            var (desired, version) = TwinMapping.Section(twin["desired"] as JsonObject);
            await _desiredGate.WaitAsync(_disposed.Token).ConfigureAwait(false);
            try
            {
                if (version < _desiredVersion) return;
                _desired = desired;
                _desiredVersion = version;
            }
            finally
            {
                _desiredGate.Release();
            }
            await DeliverCurrentAsync(_disposed.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IoTException or OperationCanceledException or JsonException)
        {
            if (!_disposed.IsCancellationRequested)
                _logger.LogWarning("Reading the twin of {DeviceId} failed: {Message}", DeviceId, ex.Message);
        }
    }

    private async Task DeliverCurrentAsync(CancellationToken cancellationToken)
    {
        await _deliveryGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            DesiredStateChange change;
            DesiredStateHandler? handler;
            await _desiredGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                handler = _slots.DesiredHandler;
                if (handler is null || _desired is null || _desiredVersion <= _deliveredVersion) return;
                _deliveredVersion = _desiredVersion;
                change = new DesiredStateChange((JsonObject)_desired.DeepClone(), _desiredVersion);
            }
            finally
            {
                _desiredGate.Release();
            }
            try
            {
                await handler(change, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _logger.LogError(ex, "The desired-state handler failed for version {Version}.", change.Version);
            }
        }
        finally
        {
            _deliveryGate.Release();
        }
    }

    private ValueTask OnMethodAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // $iothub/methods/POST/{method name}/?$rid={request id}
        if (!AzureTopics.TryParseMethodRequest(message.Topic, out var name, out var rid))
        {
            _logger.LogWarning("Ignored a method request on unexpected topic '{Topic}'.", message.Topic);
            return ValueTask.CompletedTask;
        }
        _ = HandleMethodAsync(name, rid, message.Payload, cancellationToken);
        return ValueTask.CompletedTask;
    }

    private async Task HandleMethodAsync(string name, string rid, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (await _slots.RunCommandAsync(name, payload, "the method payload is not JSON", _logger, cancellationToken).ConfigureAwait(false) is not { } response) return;
        var body = response.Payload is null ? "null"u8.ToArray() : Encoding.UTF8.GetBytes(response.Payload.ToJsonString());
        try
        {
            await _client.PublishAsync(AzureTopics.MethodResponse(response.Status, rid), body, MqttQualityOfService.AtMostOnce, false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IoTException or OperationCanceledException)
        {
            _logger.LogWarning("The reply to method '{Method}' was not delivered: {Message}", name, ex.Message);
        }
    }

    private async ValueTask OnCloudToDeviceAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        var handler = Volatile.Read(ref _cloudToDeviceHandler);
        if (handler is null)
        {
            _logger.LogWarning("A cloud-to-device message for {DeviceId} arrived without a handler and was dropped.", DeviceId);
            return;
        }
        try
        {
            await handler(new CloudToDeviceMessage(message.Payload, AzureTopics.CloudToDeviceProperties(message.Topic, DeviceId)), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _logger.LogError(ex, "The cloud-to-device handler failed.");
        }
    }
}

/// <summary>Where and how devices connect to the hub.</summary>
internal sealed record AzureDeviceEndpoint
{
    public required string HostName { get; init; }
    public string? GatewayHost { get; init; }
    public int Port { get; init; } = 8883;
    public X509Certificate2Collection? TrustedRoots { get; init; }
    public TimeSpan SasTimeToLive { get; init; } = TimeSpan.FromHours(1);
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(180);
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(60);
    public IReadOnlyDictionary<string, string>? TelemetryProperties { get; init; }
}

/// <summary>Creates <see cref="AzureDeviceConnection"/>s for one hub.</summary>
internal sealed class AzureDeviceConnectionFactory(AzureDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory? loggerFactory) : IDeviceConnectionFactory
{
    public IDeviceConnection Create(DeviceConnectionOptions options) => new AzureDeviceConnection(options, endpoint, time, loggerFactory);
}
