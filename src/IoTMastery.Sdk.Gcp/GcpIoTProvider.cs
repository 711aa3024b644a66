using System.Runtime.CompilerServices;
using IoTMastery.Sdk.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// The GCP-style provider: a registry over the Cloud IoT v1 REST shape (served by compatible vendors), device
/// state as versioned configs and reported states, commands with replies routed back through Pub/Sub,
/// telemetry consumed from a Pub/Sub subscription, firmware over configs (the shared engine, durable in a store), and devices on the MQTT bridge with
/// JWT passwords. Start it with <see cref="StartAsync"/>; dispose it to stop.
/// </summary>
public sealed class GcpIoTProvider : IIoTProvider
{
    private readonly GcpDeviceConnectionFactory _devices;

    /// <summary>The provider name carried by every exception.</summary>
    public const string ProviderName = GoogleApiErrors.Provider;

    private readonly HttpClient _http;
    private readonly GcpCommandService _commands;
    private readonly IDisposable? _ownedFirmwareStore;
    private int _disposed;

    private GcpIoTProvider(GcpIoTOptions options, HttpClient http, CloudIotClient cloudIot, PubSubClient pubsub, TimeProvider time, ILoggerFactory logs)
    {
        _http = http;
        CloudIot = cloudIot;
        PubSub = pubsub;
        var presence = new GcpPresenceService(cloudIot, time, options.PresenceKeepAlive);
        Registry = new GcpDeviceRegistry(cloudIot, time, presence);
        State = new GcpStateService(cloudIot);
        _commands = new GcpCommandService(cloudIot, pubsub, options.CommandReplySubscriptionId, time, options.EmptyPullDelay, logs.CreateLogger<GcpCommandService>());
        Telemetry = options.TelemetrySubscriptionId is { } subscription
            ? new PubSubTelemetryChannel(pubsub, new PubSubTelemetryChannelOptions { SubscriptionId = subscription, EmptyPullDelay = options.EmptyPullDelay }, time, logs.CreateLogger<PubSubTelemetryChannel>())
            : new UnavailableTelemetryChannel();
        // Config versions carry desired firmware and device states the reports; releases and rollouts live in the firmware store.
        var logger = logs.CreateLogger("IoTMastery.Sdk.Gcp.Firmware");
        var (store, owned) = FirmwareStoreOptions.Resolve(options.FirmwareStore, options.FirmwareStorePath,
            $"{options.ProjectId}-{options.Location}-{options.RegistryId}", logger);
        _ownedFirmwareStore = owned;
        Firmware = new FirmwareEngine(store, new StateFirmwareDelivery(State, DeviceIdRules.Gcp), ProviderName, time, logger);
        _devices = new GcpDeviceConnectionFactory(new GcpDeviceEndpoint(options, pubsub), time, logs);
        // The one place this provider's neutral services are wrapped: spans and metrics the same on every provider.
        (Registry, State, Commands, Firmware) = ProviderInstrumentation.Instrument(ProviderName, time, Registry, State, _commands, Firmware);
        Capabilities = new ProviderCapabilities
        {
            CredentialKinds = new HashSet<CredentialKind> { CredentialKind.PublicKey },
            DefaultCredentialKind = CredentialKind.PublicKey,
            Commands = _commands.Available,
            // sendCommandToDevice answers FAILED_PRECONDITION for an unsubscribed device.
            CommandsDetectOfflineDevices = true,
            DeviceState = true,
            FirmwareRollouts = true,
            DurableRollouts = true,
            // Cloud IoT device resources carry no version.
            RegistryRecordVersions = false,
            TelemetryConsumption = options.TelemetrySubscriptionId is not null,
            // Only last heartbeat/event/state/error times, written "periodically" with no stated bound; no connect events.
            // Connectivity only when derived from a fleet keep-alive, then as stale as the keep-alive window.
            PresenceConnectionState = presence.Window is not null,
            PresenceEvents = false,
            PresenceStaleness = presence.Window,
            MaxTelemetryMessageBytes = !options.DeviceTelemetryToPubSub ? 256 * 1024 : PubSubLimits.MaxRequestBytes,
            // Pub/Sub meters bytes with a 1000-byte minimum per request.
            TelemetryBillingUnitBytes = 1000,
        };
    }

    /// <inheritdoc />
    public string Name => ProviderName;

    /// <inheritdoc />
    public ProviderCapabilities Capabilities { get; }

    /// <inheritdoc />
    public DeviceIdRules DeviceIdRules => DeviceIdRules.Gcp;

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

    /// <summary>The typed registry client, for what the neutral API does not cover (gateways, log levels).</summary>
    public CloudIotClient CloudIot { get; }

    /// <summary>
    /// The Pub/Sub client the telemetry and command-reply paths use. Internal: for Pub/Sub beyond what the provider does,
    /// use Google's own client library (Google.Cloud.PubSub.V1), which covers the whole API and is kept current.
    /// </summary>
    internal PubSubClient PubSub { get; }

    /// <summary>
    /// Validates the options, reads the service-account key file when <see cref="GcpIoTOptions.ServiceAccountJsonPath"/> names one,
    /// and builds the provider. No network call is made until the first operation.
    /// </summary>
    /// <param name="options">Settings; validated here.</param>
    /// <param name="timeProvider">The clock for JWTs, timeouts and rollouts; the system clock when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logging; none when <see langword="null"/>. Keys and tokens are never logged.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    public static async Task<GcpIoTProvider> StartAsync(GcpIoTOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        var time = timeProvider ?? TimeProvider.System;
        var logs = loggerFactory ?? NullLoggerFactory.Instance;
        var auth = await options.CreateAuthenticatorsAsync(cancellationToken).ConfigureAwait(false);
        var http = options.Transport.CreateHttpClient(options.Transport.ResolveRequestTimeout(GcpIoTOptions.DefaultRequestTimeout));
        // Google's per-RPC schedules unless the user set any retry bound; then the user's, the rest defaulting as on AWS.
        var retry = options.Transport.HasRetrySettings ? options.Transport.ResolveRetry(IoTTransportOptions.DefaultRetry) : null;
        var cloudIot = options.IsClearBlade
            ? CloudIotClient.ForClearBlade(http, options.Registry, options.ResolveClearBlade(), time, retry)
            : new CloudIotClient(http, options.Registry, options.CloudIotBaseUrl, auth.CloudIot, time, retry);
        var pubsub = new PubSubClient(http, options.ProjectId, options.PubSubBaseUrl, auth.PubSub, time, retry);
        return new GcpIoTProvider(options, http, cloudIot, pubsub, time, logs);
    }

    /// <summary>Stops the command-reply loop and releases the HTTP client and the firmware store the provider opened.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _commands.DisposeAsync().ConfigureAwait(false);
        (Firmware as IDisposable)?.Dispose();
        _ownedFirmwareStore?.Dispose();
        _http.Dispose();
    }

    /// <summary>Telemetry consumption without a subscription: refused, never silently empty.</summary>
    private sealed class UnavailableTelemetryChannel : ITelemetryChannel
    {
        public async IAsyncEnumerable<TelemetryRecord> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.CompletedTask.ConfigureAwait(false);
            throw new NotSupportedException("Telemetry consumption needs GcpIoTOptions.TelemetrySubscriptionId.");
#pragma warning disable CS0162 // An iterator needs a yield to be one.
            yield break;
#pragma warning restore CS0162
        }
    }
}
