using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// The IoT Hub side of <see cref="AzureDeviceConnection"/> on the shared <see cref="MqttDeviceConnection"/> lifecycle: SAS or
/// X.509 credentials, lazy subscriptions as the official SDK makes them, direct methods, cloud-to-device messages and
/// (in <c>AzureMqttDeviceConnection.Twin.cs</c>) twin requests and desired-state ordering.
/// </summary>
internal sealed partial class AzureMqttDeviceConnection : MqttDeviceConnection
{
    private const string Provider = IotHubErrors.Provider;
    private readonly X509Certificate2? _certificate;
    private CloudToDeviceHandler? _cloudToDeviceHandler;

    internal AzureMqttDeviceConnection(DeviceConnectionOptions options, AzureDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory? loggerFactory)
        : base(time, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<AzureDeviceConnection>())
    {
        Validate(options, DeviceIdRules.Azure);
        loggerFactory ??= NullLoggerFactory.Instance;
        var deviceId = options.DeviceId;
        _operationTimeout = endpoint.OperationTimeout;
        var userName = endpoint.HostName + "/" + deviceId + "/?api-version=" + IotHubHttpClient.ApiVersion
            + "&DeviceClientType=" + Uri.EscapeDataString(AzureIoTProvider.UserAgent);
        MqttCredentialProvider credentials;
        switch (options.Credential.Info.Kind)
        {
            case CredentialKind.SymmetricKey when options.Credential.SymmetricKey is { } key:
                SasToken.DecodeKey(key, nameof(options));
                var resource = SasToken.DeviceResource(endpoint.HostName, deviceId);
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
        var client = CreateClient(new MqttDeviceClientOptions
        {
            Host = endpoint.GatewayHost ?? endpoint.HostName,
            Port = endpoint.Port,
            ClientId = deviceId,
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
        }, options, Provider, time, loggerFactory);
        Transport = new AzureTelemetryTransport(client, deviceId, endpoint.TelemetryProperties);
        Initialize(deviceId, client, new TelemetryPipeline(Transport, options.Telemetry, time, loggerFactory.CreateLogger<TelemetryPipeline>()));
    }

    internal AzureTelemetryTransport Transport { get; }

    /// <inheritdoc />
    protected override async Task SubscribeBeforeConnectAsync(CancellationToken cancellationToken)
    {
        // Like the official SDK, a topic is subscribed only once something needs it; filters registered before connecting
        // go out right after CONNECT and again after every reconnect (the hub allows five subscriptions).
        // Methods always: without a handler the neutral contract answers 501 rather than letting the call time out.
        await EnsureSubscribedAsync(Subscription.Methods, cancellationToken).ConfigureAwait(false);
        if (Slots.DesiredHandler is not null)
        {
            await EnsureSubscribedAsync(Subscription.TwinResponses, cancellationToken).ConfigureAwait(false);
            await EnsureSubscribedAsync(Subscription.Desired, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    // After every (re)connect: the hub does not queue desired patches for offline devices.
    protected override void OnConnected() => RunInBackground(RefreshDesiredAsync);

    internal async Task SendMessageAsync(ReadOnlyMemory<byte> body, IEnumerable<KeyValuePair<string, string?>>? properties, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var bag = (properties ?? []).ToList();
        var size = body.Length + bag.Sum(p => Encoding.UTF8.GetByteCount(p.Key) + Encoding.UTF8.GetByteCount(p.Value ?? ""));
        if (size > AzureTelemetryTransport.MaxMessageBytes)
            throw new IoTException(IoTErrorKind.PayloadTooLarge, $"IoT Hub messages are at most {AzureTelemetryTransport.MaxMessageBytes} bytes with their properties; this one is {size}.", Provider);
        await Client.PublishAsync(AzureTopics.Events(DeviceId) + AzureTopics.EncodeBag(bag), body, MqttQualityOfService.AtLeastOnce, false, cancellationToken).ConfigureAwait(false);
    }

    internal async Task EnableCloudToDeviceAsync(CloudToDeviceHandler handler, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(handler);
        Volatile.Write(ref _cloudToDeviceHandler, handler);
        await EnsureSubscribedAsync(Subscription.CloudToDevice, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task ReportStateCoreAsync(JsonObject patch, CancellationToken cancellationToken)
    {
        var payload = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(patch);
        if (payload.Length > 32 * 1024)
            throw new IoTException(IoTErrorKind.PayloadTooLarge, $"Reported properties are at most 32 KB; these are {payload.Length} bytes.", Provider);
        await RequestAsync(AzureTopics.ReportedPatch, payload, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override ValueTask DisposeResourcesAsync()
    {
        foreach (var pending in _pending.Values) pending.TrySetCanceled();
        _certificate?.Dispose();
        return ValueTask.CompletedTask;
    }

    private Task EnsureSubscribedAsync(Subscription subscription, CancellationToken cancellationToken)
    {
        var (filter, handler, qos) = subscription switch
        {
            Subscription.Methods => (AzureTopics.MethodFilter, (MqttMessageHandler)OnMethodAsync, MqttQualityOfService.AtMostOnce),
            Subscription.TwinResponses => (AzureTopics.TwinResponseFilter, OnTwinResponseAsync, MqttQualityOfService.AtMostOnce),
            Subscription.Desired => (AzureTopics.DesiredFilter, OnDesiredPatchAsync, MqttQualityOfService.AtMostOnce),
            _ => (AzureTopics.CloudToDeviceFilter(DeviceId), (MqttMessageHandler)OnCloudToDeviceAsync, MqttQualityOfService.AtLeastOnce),
        };
        return EnsureSubscribedAsync(filter, handler, qos, cancellationToken);
    }

    private enum Subscription
    {
        Methods,
        TwinResponses,
        Desired,
        CloudToDevice,
    }

    private ValueTask OnMethodAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // $iothub/methods/POST/{method name}/?$rid={request id}
        if (!AzureTopics.TryParseMethodRequest(message.Topic, out var name, out var rid))
        {
            Log.UnexpectedMethodTopic(Logger, DeviceId, ErrorText.Escape(message.Topic, 128));
            return ValueTask.CompletedTask;
        }
        DispatchCommand(name, JsonCommand(name, message.Payload, "the method payload is not JSON"), response =>
        {
            var body = response.Payload is null ? "null"u8.ToArray() : Encoding.UTF8.GetBytes(response.Payload.ToJsonString());
            return Client.PublishAsync(AzureTopics.MethodResponse(response.Status, rid), body, MqttQualityOfService.AtMostOnce, false);
        });
        return ValueTask.CompletedTask;
    }

    private async ValueTask OnCloudToDeviceAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        var handler = Volatile.Read(ref _cloudToDeviceHandler);
        if (handler is null)
        {
            Log.CloudToDeviceWithoutHandler(Logger, DeviceId);
            return;
        }
        try
        {
            await handler(new CloudToDeviceMessage(message.Payload, AzureTopics.CloudToDeviceProperties(message.Topic, DeviceId)), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.CloudToDeviceHandlerFailed(Logger, ex, DeviceId);
        }
    }
}
