using System.Security.Cryptography.X509Certificates;
using IoTMastery.Sdk.Diagnostics;
using IoTMastery.Sdk.Providers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// The embedded provider: an MQTT broker with mutual TLS on 127.0.0.1, a SQLite registry and a
/// local certificate authority, all in this process. Everything the neutral API offers works
/// with no cloud account. Start it with <see cref="StartAsync"/>; dispose it to stop.
/// </summary>
public sealed class LocalIoTProvider : IIoTProvider, IFirmwareOnlyRestriction
{
    private readonly LocalDeviceConnectionFactory _devices;

    private static readonly ProviderCapabilities LocalCapabilities = new()
    {
        CredentialKinds = new HashSet<CredentialKind> { CredentialKind.X509Certificate },
        DefaultCredentialKind = CredentialKind.X509Certificate,
        Commands = true,
        CommandsDetectOfflineDevices = true,
        DeviceState = true,
        FirmwareRollouts = true,
        DurableRollouts = true,
        // The broker routes every device topic itself, so it can hold a device to its firmware traffic.
        FirmwareOnlyRestriction = true,
        RegistryRecordVersions = true,
        TelemetryConsumption = true,
        // The broker sees every session and publish itself.
        PresenceConnectionState = true,
        PresenceEvents = true,
        PresenceStaleness = TimeSpan.Zero,
        MaxTelemetryMessageBytes = new TelemetryTransportLimits().MaxMessageBytes,
        TelemetryBillingUnitBytes = 0,
    };

    private readonly LocalStore _store;
    private readonly LocalCertificateAuthority _ca;
    private readonly LocalBroker _broker;
    private readonly LocalTelemetryJournal? _journal;
    private readonly LocalFirmware _firmware;
    private readonly FirmwareRestrictions _restrictions;
    private int _disposed;

    private LocalIoTProvider(LocalStore store, LocalCertificateAuthority ca, LocalBroker broker, LocalDeviceRegistry registry,
        LocalStateService state, LocalCommandService commands, ITelemetryChannel telemetry, LocalFirmware firmware,
        LocalDeviceConnectionFactory devices, LocalTelemetryJournal? journal, TimeProvider time, FirmwareRestrictions restrictions)
    {
        _restrictions = restrictions;
        _firmware = firmware;
        _journal = journal;
        _store = store;
        _ca = ca;
        _broker = broker;
        Registry = registry;
        State = state;
        Commands = commands;
        Telemetry = telemetry;
        Firmware = firmware.Service;
        _devices = devices;
        // The one place this provider's neutral services are wrapped: spans and metrics the same on every provider.
        (Registry, State, Commands, Firmware) = ProviderInstrumentation.Instrument(Name, time, Registry, State, Commands, Firmware);
    }

    /// <inheritdoc />
    public string Name => "Local";

    /// <inheritdoc />
    public ProviderCapabilities Capabilities => LocalCapabilities;

    /// <inheritdoc />
    public DeviceIdRules DeviceIdRules => DeviceIdRules.Local;

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

    /// <summary>The embedded broker (tests: to publish fleet-side messages the neutral services would refuse to send).</summary>
    internal LocalBroker Broker => _broker;

    /// <summary>The broker's TLS port on 127.0.0.1.</summary>
    public int Port => _broker.Port;

    /// <summary>The local CA's certificate: the trust root for device certificates and the broker's server certificate.</summary>
    public X509Certificate2 CertificateAuthority => _ca.Certificate;

    /// <summary>
    /// Opens (or creates) the registry, loads (or creates) the CA, and starts the broker.
    /// </summary>
    /// <exception cref="ArgumentException">A setting is invalid, including a CA passphrase of the wrong length.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.CertificateAuthorityKey"/>: The database holds a CA whose key is missing or wrong; nothing was changed.</exception>
    /// <param name="options">Settings; defaults to an in-memory registry on a free port.</param>
    /// <param name="timeProvider">The clock for certificates, timeouts and rollouts; defaults to the system clock.</param>
    /// <param name="loggerFactory">Logging; defaults to none. Secrets are never logged.</param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    public static async Task<LocalIoTProvider> StartAsync(LocalIoTOptions? options = null, TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        options ??= new LocalIoTOptions();
        options.Validate();
        var time = timeProvider ?? TimeProvider.System;
        var logs = loggerFactory ?? NullLoggerFactory.Instance;

        LocalStore store;
        if (options.DatabasePath is { } path)
        {
            var storeLogger = logs.CreateLogger<LocalStore>();
            store = LocalStore.OpenFile(path, CertificateAuthorityKey.FromOptions(options, path, storeLogger), storeLogger);
        }
        else
        {
            store = LocalStore.OpenInMemory();
        }
        LocalCertificateAuthority? ca = null;
        LocalBroker? broker = null;
        LocalTelemetryJournal? journal = null;
        LocalFirmware? firmware = null;
        FirmwareRestrictions? restrictions = null;
        try
        {
            ca = await store.LoadOrCreateCertificateAuthorityAsync(time, cancellationToken).ConfigureAwait(false);
            restrictions = await FirmwareRestrictions.LoadAsync(store, cancellationToken).ConfigureAwait(false);
            // The registry and state service publish through the broker, and the broker asks them who may
            // connect and where reports go: the bus is bound once the broker exists.
            var bus = new DeferredMessageBus();
            // Fed by the broker's sessions, answered by the registry.
            var presence = new PresenceTable(time);
            var registry = new LocalDeviceRegistry(store, ca, bus, time, presence) { Restrictions = restrictions };
            var state = new LocalStateService(store, bus, logs.CreateLogger<LocalStateService>());
            firmware = new LocalFirmware(store, state, time, logs.CreateLogger<LocalFirmware>());
            // Before the PUBACK of the report that proves the minimum version, so the device's next publish is already free.
            var restricted = restrictions;
            state.AddReportedListener((deviceId, _, current, ct) => restricted.OnReportedAsync(deviceId, current, ct));
            // Opened before the broker listens, so no publish is acknowledged before it can be journaled.
            journal = options.TelemetryJournal is { } journalOptions
                ? LocalTelemetryJournal.Open(journalOptions, time, logs.CreateLogger<LocalTelemetryJournal>())
                : null;
            ILocalTelemetrySink sink = journal ?? (ILocalTelemetrySink)new LocalTelemetryChannel(options.TelemetryReaderCapacity);
            var replies = new CommandReplyTable();
            broker = new LocalBroker(new LocalBrokerOptions { Port = options.Port }, ca, registry, sink, state, replies,
                logs.CreateLogger<LocalBroker>()) { Presence = presence, Restrictions = restrictions };
            bus.Bind(broker);
            var commands = new LocalCommandService(broker, registry, replies, time) { Restrictions = restrictions };
            var devices = new LocalDeviceConnectionFactory(broker, ca, time, logs);

            await broker.StartAsync(cancellationToken).ConfigureAwait(false);
            await state.RepublishDesiredAsync(cancellationToken).ConfigureAwait(false);
            return new LocalIoTProvider(store, ca, broker, registry, state, commands, (ITelemetryChannel)sink, firmware, devices, journal, time, restrictions);
        }
        catch
        {
            if (broker is not null) await broker.DisposeAsync().ConfigureAwait(false);
            journal?.Dispose();
            ca?.Dispose();
            firmware?.Dispose();
            restrictions?.Dispose();
            store.Dispose();
            throw;
        }
    }

    /// <summary>Stops the broker (closing every device session), ends telemetry readers, and closes the journal and the registry.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _broker.DisposeAsync().ConfigureAwait(false);
        // After the broker: no publish can be acknowledged once the journal is closed.
        _journal?.Dispose();
        _ca.Dispose();
        _firmware.Dispose();
        _restrictions.Dispose();
        _store.Dispose();
    }

    /// <inheritdoc />
    Task<bool> IFirmwareOnlyRestriction.RestrictAsync(string deviceId, FirmwareVersion minimum, CancellationToken cancellationToken) =>
        // The session stays: commands stop at the broker and the device keeps receiving its desired state, so the fix can reach it.
        _restrictions.RestrictAsync(deviceId, minimum, cancellationToken);

    /// <inheritdoc />
    Task<IReadOnlyDictionary<string, string>> IFirmwareOnlyRestriction.ListRestrictedAsync(CancellationToken cancellationToken) =>
        Task.FromResult(_restrictions.Snapshot());

    /// <summary>Forwards to the broker once it is bound; the registry and state service are built before it.</summary>
    private sealed class DeferredMessageBus : IDeviceMessageBus
    {
        private IDeviceMessageBus? _target;

        public void Bind(IDeviceMessageBus target) => _target = target;

        private IDeviceMessageBus Target => _target ?? throw new InvalidOperationException("The broker is not bound yet.");

        public bool IsConnected(string deviceId) => Target.IsConnected(deviceId);

        public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, bool retain, CancellationToken cancellationToken) =>
            Target.PublishAsync(topic, payload, retain, cancellationToken);

        public Task DisconnectAsync(string deviceId, CancellationToken cancellationToken) => Target.DisconnectAsync(deviceId, cancellationToken);
    }
}
