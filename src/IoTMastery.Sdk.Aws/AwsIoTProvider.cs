using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using IoTMastery.Sdk.Diagnostics;
using IoTMastery.Sdk.Providers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Aws;

/// <summary>
/// The AWS IoT Core provider: things, certificates and policies on the SigV4-signed control plane, shadows and
/// HTTP publish on the data plane, firmware through the classic shadow (the shared engine; IoT Jobs cannot gate a wave on
/// a success threshold nor roll one device back), devices over MQTT with X.509 mutual TLS.
/// </summary>
public sealed class AwsIoTProvider : IIoTProvider
{
    private readonly AwsDeviceConnectionFactory _devices;

    /// <summary>The provider name carried by every exception.</summary>
    public const string ProviderName = "Aws";

    // Known only from lifecycle events seen since start: a device that connected before is unknown (null), never guessed.
    private static ObservedPresence ObservedPresenceOf(AwsServiceConnection? service, TimeProvider time) =>
        new(DeviceIdRules.Aws, service?.Presence ?? new PresenceTable(time),
            () => service is { PresenceSubscribed: true, Presence: not null },
            service is null
                ? "Presence events from AWS IoT need AwsIoTOptions.ServiceMqttClientId and ServiceMqttCertificate: lifecycle events are published on $aws/events/presence/+/+ and AWS has no HTTP subscribe."
                : "AWS IoT refused the service connection's subscription to $aws/events/presence/+/+: allow iot:Subscribe on topicfilter/$aws/events/presence/* and iot:Receive on topic/$aws/events/presence/* in its policy.",
            unknown: null, staleness: null);

    /// <summary>The ALPN protocol id for MQTT with X.509 on port 443.</summary>
    public const string MqttAlpn = "x-amzn-mqtt-ca";

    private readonly HttpClient _http;
    private readonly AwsServiceConnection? _service;
    private readonly IotDataPlane _data;
    private readonly IDisposable? _ownedFirmwareStore;
    private readonly X509Certificate2? _ownedServiceCertificate;
    private int _disposed;

    private AwsIoTProvider(HttpClient http, AwsServiceConnection? service, X509Certificate2? ownedServiceCertificate, IotControlPlane iot, IotDataPlane data, string dataEndpoint,
        AwsDeviceRegistry registry, AwsShadowService shadows, IFirmwareStore firmwareStore, IDisposable? ownedFirmwareStore, AwsDeviceConnectionFactory devices,
        TimeProvider time, ILoggerFactory logs)
    {
        _http = http;
        _ownedServiceCertificate = ownedServiceCertificate;
        _service = service;
        _data = data;
        ControlPlane = iot;
        DataEndpoint = dataEndpoint;
        Registry = registry;
        Shadows = shadows;
        State = new AwsStateService(shadows, iot);
        _ownedFirmwareStore = ownedFirmwareStore;
        // The classic shadow carries desired and reported firmware, so AWS runs the same engine as every provider: IoT Jobs
        // has no success threshold to gate a wave on and cannot roll one device back.
        Firmware = new FirmwareEngine(firmwareStore, new StateFirmwareDelivery(State, DeviceIdRules.Aws), ProviderName, time,
            logs.CreateLogger("IoTMastery.Sdk.Aws.Firmware"));
        _devices = devices;
        Commands = new AwsCommandService(service, registry, time);
        Telemetry = new AwsTelemetryChannel(service);
        LifecycleEvents = new AwsLifecycleEvents(service);
        // The one place this provider's neutral services are wrapped: spans and metrics the same on every provider.
        (Registry, State, Commands, Firmware) = ProviderInstrumentation.Instrument(ProviderName, time, Registry, State, Commands, Firmware);
        Capabilities = new ProviderCapabilities
        {
            CredentialKinds = new HashSet<CredentialKind> { CredentialKind.X509Certificate },
            DefaultCredentialKind = CredentialKind.X509Certificate,
            Commands = service is not null,
            // Commands are MQTT publishes; nothing says whether the thing is subscribed.
            CommandsDetectOfflineDevices = false,
            DeviceState = true,
            FirmwareRollouts = true,
            DurableRollouts = true,
            // UpdateThing takes expectedVersion.
            RegistryRecordVersions = true,
            TelemetryConsumption = service is not null,
            // Lifecycle events cover devices seen since start only; AWS states no delivery bound for them.
            PresenceConnectionState = false,
            PresenceEvents = service is { PresenceSubscribed: true },
            PresenceStaleness = null,
            MaxTelemetryMessageBytes = 128 * 1024,
            TelemetryBillingUnitBytes = 5 * 1024,
        };
    }

    /// <inheritdoc />
    public string Name => ProviderName;

    /// <inheritdoc />
    public ProviderCapabilities Capabilities { get; }

    /// <inheritdoc />
    public DeviceIdRules DeviceIdRules => DeviceIdRules.Aws;

    /// <inheritdoc />
    public IDeviceRegistry Registry { get; }

    /// <inheritdoc />
    public IDeviceStateService State { get; }

    /// <inheritdoc />
    public IDeviceCommandService Commands { get; }

    /// <inheritdoc />
    public ITelemetryChannel Telemetry { get; }

    /// <inheritdoc />
    public IFirmwareService Firmware { get; }

    /// <inheritdoc />
    public IDeviceConnection CreateDeviceConnection(DeviceConnectionOptions options) => _devices.Create(options);

    /// <summary>Classic and named device shadows.</summary>
    public AwsShadowService Shadows { get; }

    /// <summary>Device connect/disconnect events from <c>$aws/events/presence/+/+</c>; needs <see cref="AwsIoTOptions.ServiceMqttClientId"/>.</summary>
    internal AwsLifecycleEvents LifecycleEvents { get; }

    /// <summary>The iot:Data-ATS host (or the configured data-plane host).</summary>
    public string DataEndpoint { get; }

    internal IotControlPlane ControlPlane { get; }

    /// <summary>
    /// Publishes to a topic through the data plane (HTTP Publish). Not retried: the service does not deduplicate,
    /// so put a message id in the payload if consumers must drop duplicates.
    /// </summary>
    public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, int qos = 1, bool retain = false, CancellationToken cancellationToken = default)
    {
        ValidateTopic(topic);
        if (qos is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(qos), qos, "AWS IoT supports QoS 0 and 1.");
        if (payload.Length > 128 * 1024)
            throw new IoTException(IoTErrorKind.PayloadTooLarge, $"AWS IoT messages are at most 131072 bytes; this one is {payload.Length}.", ProviderName);
        if (retain && topic.StartsWith('$'))
            throw new ArgumentException("Retained messages cannot be published to reserved '$' topics.", nameof(topic));
        return _data.PublishAsync(topic, payload, qos, retain, cancellationToken);
    }

    /// <summary>Starts the provider: resolves endpoints and credentials, ensures the device policy, connects the service MQTT client.</summary>
    public static async Task<AwsIoTProvider> StartAsync(AwsIoTOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var time = timeProvider ?? TimeProvider.System;
        var logs = loggerFactory ?? NullLoggerFactory.Instance;
        var region = options.ResolveRegion()!;
        var credentials = options.Credentials;
        AwsCredentialSource source = async ct =>
        {
            // The default chain is resolved lazily so a provider for moto never walks to instance metadata.
            credentials ??= await DefaultAWSCredentialsIdentityResolver.GetCredentialsAsync(null).ConfigureAwait(false);
            return await credentials.GetCredentialsAsync().ConfigureAwait(false);
        };
        var http = options.Transport.CreateHttpClient(options.Transport.ResolveRequestTimeout(AwsIoTOptions.DefaultRequestTimeout));
        var retry = options.Transport.ResolveRetry(IoTTransportOptions.DefaultRetry);
        AwsServiceConnection? service = null;
        X509Certificate2? serviceCertificateFromFile = null;
        IFirmwareStore firmwareStore;
        IDisposable? ownedFirmwareStore = null;
        try
        {
            // Read before any network call, so a bad file is an ArgumentException naming the option, not a late TLS failure.
            serviceCertificateFromFile = options.LoadServiceMqttCertificateFile();
            var controlUri = options.ControlPlaneEndpoint ?? new Uri($"https://iot.{region}.amazonaws.com/");
            var iot = new IotControlPlane(new AwsHttpClient(http, controlUri, region, "iot", source, retry, time, logs.CreateLogger("IoTMastery.Sdk.Aws.ControlPlane")));
            var dataUri = options.DataPlaneEndpoint;
            if (dataUri is null)
                dataUri = new Uri("https://" + await iot.DescribeEndpointAsync("iot:Data-ATS", cancellationToken).ConfigureAwait(false) + "/");
            var data = new IotDataPlane(new AwsHttpClient(http, dataUri, region, "iotdata", source, retry, time, logs.CreateLogger("IoTMastery.Sdk.Aws.DataPlane")));

            if (options.EnsureDevicePolicy)
                await EnsurePolicyAsync(iot, options.DevicePolicyName, cancellationToken).ConfigureAwait(false);

            var issuer = new DeviceCertificateIssuer(iot, options.CertificateAuthority);
            var shadows = new AwsShadowService(data);
            (firmwareStore, ownedFirmwareStore) = FirmwareStoreOptions.Resolve(options.FirmwareStore, options.FirmwareStorePath,
                $"{region}-{dataUri.Authority}", logs.CreateLogger("IoTMastery.Sdk.Aws.Firmware"));
            var deviceHost = options.Transport.DeviceHost ?? dataUri.Host;
            var endpoint = new AwsDeviceEndpoint(deviceHost, options.Transport.DevicePort, options.Transport.TrustedRoots);
            var devices = new AwsDeviceConnectionFactory(() => endpoint, time, logs);
            if (options.ResolveServiceMqtt(deviceHost, options.ServiceMqttCertificate ?? serviceCertificateFromFile) is { } mqtt)
            {
                service = new AwsServiceConnection(mqtt, options.TelemetryReaderCapacity, time, logs) { Presence = new PresenceTable(time) };
                await service.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            // After the service connection: presence is fed by its lifecycle-event subscription.
            var registry = new AwsDeviceRegistry(iot, data, issuer, options.DevicePolicyName, options.ThingTypeName, logs.CreateLogger<AwsDeviceRegistry>(),
                ObservedPresenceOf(service, time));
            return new AwsIoTProvider(http, service, serviceCertificateFromFile, iot, data, dataUri.Host, registry, shadows, firmwareStore, ownedFirmwareStore, devices, time, logs);
        }
        catch
        {
            if (service is not null) await service.DisposeAsync().ConfigureAwait(false);
            serviceCertificateFromFile?.Dispose();
            ownedFirmwareStore?.Dispose();
            http.Dispose();
            throw;
        }
    }

    /// <summary>The device policy: connect as your own thing name, publish/subscribe/receive on your shadow, jobs and SDK topics.</summary>
    internal static string DevicePolicyDocument()
    {
        const string thing = "${iot:Connection.Thing.ThingName}";
        JsonArray Resources(string kind) => new(
            (JsonNode)$"arn:aws:iot:*:*:{kind}/$aws/things/{thing}/*",
            (JsonNode)$"arn:aws:iot:*:*:{kind}/iotmastery/{thing}/*");
        var statements = new JsonArray(
            new JsonObject { ["Effect"] = "Allow", ["Action"] = "iot:Connect", ["Resource"] = $"arn:aws:iot:*:*:client/{thing}" },
            new JsonObject { ["Effect"] = "Allow", ["Action"] = new JsonArray("iot:Publish", "iot:Receive"), ["Resource"] = Resources("topic") },
            new JsonObject { ["Effect"] = "Allow", ["Action"] = "iot:Subscribe", ["Resource"] = Resources("topicfilter") });
        return new JsonObject { ["Version"] = "2012-10-17", ["Statement"] = statements }.ToJsonString(AwsRequest.WireJson);
    }

    private static async Task EnsurePolicyAsync(IotControlPlane iot, string name, CancellationToken ct)
    {
        try
        {
            await iot.GetPolicyAsync(name, ct).ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.IsNotFound)
        {
            try
            {
                await iot.CreatePolicyAsync(name, DevicePolicyDocument(), ct).ConfigureAwait(false);
            }
            catch (IoTException exists) when (exists.Kind == IoTErrorKind.AlreadyExists)
            {
                // Created concurrently by another instance: the name is what matters.
            }
        }
    }

    private static void ValidateTopic(string topic)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        if (topic.AsSpan().IndexOfAny("#+\0") >= 0)
            throw new ArgumentException("A publish topic must not contain '#', '+' or NUL.", nameof(topic));
        if (System.Text.Encoding.UTF8.GetByteCount(topic) > 256)
            throw new ArgumentException("AWS IoT topics are at most 256 UTF-8 bytes.", nameof(topic));
        var rest = topic.StartsWith("$aws/rules/", StringComparison.Ordinal) ? topic[(topic.IndexOf('/', 11) + 1)..] : topic;
        if (rest.Count(c => c == '/') > 7)
            throw new ArgumentException("AWS IoT topics have at most 7 forward slashes.", nameof(topic));
        if (topic.Split('/').Any(level => level is "." or ".."))
            throw new ArgumentException("A topic level of '.' or '..' cannot be sent in a URL path.", nameof(topic));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_service is not null) await _service.DisposeAsync().ConfigureAwait(false);
        (Firmware as IDisposable)?.Dispose();
        _ownedFirmwareStore?.Dispose();
        _ownedServiceCertificate?.Dispose();
        _http.Dispose();
    }
}
