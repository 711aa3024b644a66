using IoTMastery.Sdk.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// The Azure IoT Hub provider: the neutral API over the hub's service REST API (SAS or Entra ID), device MQTT
/// (SAS or X.509) and the built-in Event Hubs endpoint. Create it with <see cref="Create"/>; dispose it to release HTTP connections.
/// </summary>
public sealed class AzureIoTProvider : IIoTProvider
{
    private readonly AzureDeviceConnectionFactory _devices;

    internal const string UserAgent = "IoTMastery.Sdk.Azure/0.1.0";

    private readonly HttpClient _http;
    private readonly IDisposable? _ownedFirmwareStore;
    private readonly AzureConnectionStateEvents? _connectionStateEvents;

    private AzureIoTProvider(HttpClient http, IotHubServiceClient hub, AzureIoTOptions options, TimeProvider time, ILoggerFactory logs)
    {
        _http = http;
        Hub = hub;
        _connectionStateEvents = options.ConnectionStateEvents is { } routed
            ? new AzureConnectionStateEvents(routed, new PresenceTable(time), time, logs.CreateLogger<AzureConnectionStateEvents>())
            : null;
        Registry = new AzureDeviceRegistry(hub, options.CertificateAuthority, time, new AzurePresenceService(hub, _connectionStateEvents));
        State = new AzureStateService(hub);
        Commands = new AzureCommandService(hub, options.CommandConnectTimeout);
        Telemetry = new AzureTelemetryChannel(options.EventHub, logs.CreateLogger<AzureTelemetryChannel>());
        // Twins carry desired and reported firmware; releases and rollouts live in the firmware store (IoT Hub has no place for them).
        var logger = logs.CreateLogger("IoTMastery.Sdk.Azure.Firmware");
        var (store, owned) = FirmwareStoreOptions.Resolve(options.FirmwareStore, options.FirmwareStorePath, hub.Http.HostName, logger);
        _ownedFirmwareStore = owned;
        Firmware = new FirmwareEngine(store, new StateFirmwareDelivery(State, DeviceIdRules.Azure), IotHubErrors.Provider, time, logger);
        _devices = new AzureDeviceConnectionFactory(new AzureDeviceEndpoint
        {
            HostName = hub.Http.HostName,
            GatewayHost = options.Transport.DeviceHost,
            Port = options.Transport.DevicePort,
            TrustedRoots = options.Transport.TrustedRoots,
            SasTimeToLive = options.SasTimeToLive,
            KeepAlive = options.DeviceKeepAlive,
            OperationTimeout = options.DeviceOperationTimeout,
            TelemetryProperties = options.TelemetryProperties,
        }, time, logs);
        // The one place this provider's neutral services are wrapped: spans and metrics the same on every provider.
        (Registry, State, Commands, Firmware) = ProviderInstrumentation.Instrument(Name, time, Registry, State, Commands, Firmware);
        Capabilities = new ProviderCapabilities
        {
            CredentialKinds = new HashSet<CredentialKind> { CredentialKind.SymmetricKey, CredentialKind.X509Certificate },
            DefaultCredentialKind = CredentialKind.X509Certificate,
            Commands = true,
            // Direct methods answer 404103 for a disconnected device.
            CommandsDetectOfflineDevices = true,
            // The hub's minimum direct-method response timeout; shorter ones are refused, not lengthened.
            MinCommandTimeout = IotHubServiceClient.MinimumMethodTimeout,
            DeviceState = true,
            FirmwareRollouts = true,
            DurableRollouts = true,
            // Identity and twin ETags.
            RegistryRecordVersions = true,
            TelemetryConsumption = options.EventHub is not null,
            // The identity's connectionState; events when their Event Hubs route is read; the hub states no staleness bound
            // (its connection-state events are 60-second snapshots delivered with no stated latency).
            PresenceConnectionState = true,
            PresenceEvents = options.ConnectionStateEvents is not null,
            PresenceStaleness = null,
            MaxTelemetryMessageBytes = AzureTelemetryTransport.MaxMessageBytes,
            TelemetryBillingUnitBytes = AzureTelemetryTransport.BillingUnitBytes,
        };
    }

    /// <inheritdoc />
    public string Name => "Azure";

    /// <inheritdoc />
    public ProviderCapabilities Capabilities { get; }

    /// <inheritdoc />
    public DeviceIdRules DeviceIdRules => DeviceIdRules.Azure;

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

    /// <summary>The IoT Hub service API beyond the neutral interfaces: ETags, queries, bulk operations, jobs, statistics.</summary>
    public IotHubServiceClient Hub { get; }

    /// <summary>Creates the provider; no network call is made until the first operation.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static AzureIoTProvider Create(AzureIoTOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var time = timeProvider ?? TimeProvider.System;
        var logs = loggerFactory ?? NullLoggerFactory.Instance;
        var host = options.ResolveHostName();
        IServiceAuthorization authorization;
        if (options.ConnectionString is not null)
        {
            var cs = IotHubConnectionString.Parse(options.ConnectionString);
            authorization = cs.SharedAccessKey is not null
                ? new SasServiceAuthorization(cs.HostName, cs.SharedAccessKeyName!, cs.SharedAccessKey, options.SasTimeToLive, time)
                : new FixedSasAuthorization(cs.SharedAccessSignature!);
        }
        else
            authorization = new EntraServiceAuthorization(options.Credential!, time);
        // Per-attempt timeouts are applied by IotHubHttpClient itself (a call may pass a longer one), so the HttpClient has none.
        var http = options.Transport.CreateHttpClient(Timeout.InfiniteTimeSpan);
        var client = new IotHubHttpClient(http, authorization, host, options.ServiceEndpoint, options.Transport.ResolveRetry(AzureIoTOptions.DefaultRetry),
            options.Transport.ResolveRequestTimeout(AzureIoTOptions.DefaultRequestTimeout), time, logs.CreateLogger<IotHubHttpClient>());
        return new AzureIoTProvider(http, new IotHubServiceClient(client), options, time, logs);
    }

    /// <summary>
    /// Registers a device with the Device Provisioning Service over MQTT (api-version 2019-03-31) with symmetric-key
    /// attestation (<see cref="DpsRegistrationOptions.DeviceKey"/>, or a key derived from
    /// <see cref="DpsRegistrationOptions.EnrollmentGroupKey"/>), and polls until DPS assigns or refuses it. A device-side
    /// call: it needs no provider instance, only the DPS scope and the key.
    /// </summary>
    /// <returns>The hub host the device must connect to, its device id there, and the whole <c>registrationState</c> document.</returns>
    /// <exception cref="ArgumentException">An option is invalid; the message never holds a key.</exception>
    /// <exception cref="IoTException">DPS refused the registration or did not finish within <see cref="DpsRegistrationOptions.Timeout"/>.</exception>
    public static Task<DpsRegistrationResult> RegisterWithDpsAsync(
        DpsRegistrationOptions options, TimeProvider? timeProvider = null, ILogger? logger = null, CancellationToken cancellationToken = default) =>
        DpsProvisioningClient.RegisterAsync(options, timeProvider, logger, cancellationToken);

    /// <summary>Stops the connection-state reader and releases the HTTP connections and the firmware store the provider opened.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_connectionStateEvents is not null) await _connectionStateEvents.DisposeAsync().ConfigureAwait(false);
        (Firmware as IDisposable)?.Dispose();
        _ownedFirmwareStore?.Dispose();
        _http.Dispose();
    }
}
