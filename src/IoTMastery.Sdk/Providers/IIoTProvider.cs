namespace IoTMastery.Sdk;

/// <summary>
/// One provider's implementation of the whole neutral API. Application code depends on this (or
/// on the individual interfaces) and switches providers by configuration alone.
/// </summary>
public interface IIoTProvider : IAsyncDisposable
{
    /// <summary>The provider's name: <c>Local</c>, <c>Aws</c>, <c>Azure</c> or <c>Gcp</c>.</summary>
    string Name { get; }

    /// <summary>What this provider can do; check before relying on an optional feature.</summary>
    ProviderCapabilities Capabilities { get; }

    /// <summary>The device-id rules every call checks.</summary>
    DeviceIdRules DeviceIdRules { get; }

    /// <summary>Devices, their credentials and their presence (connected or not, since when, connect/disconnect events).</summary>
    IDeviceRegistry Registry { get; }

    /// <summary>Desired and reported state.</summary>
    IDeviceStateService State { get; }

    /// <summary>Commands with replies.</summary>
    IDeviceCommandService Commands { get; }

    /// <summary>Telemetry consumption.</summary>
    ITelemetryChannel Telemetry { get; }

    /// <summary>Firmware releases and rollouts.</summary>
    IFirmwareService Firmware { get; }

    /// <summary>
    /// Creates one device's connection to this provider (the device side); call <see cref="IDeviceConnection.ConnectAsync"/>
    /// to connect it and dispose it to disconnect. Nothing is sent until then.
    /// </summary>
    /// <param name="options">The device id, its credential and the connection's telemetry and connect settings.</param>
    /// <exception cref="ArgumentException">The id breaks <see cref="DeviceIdRules"/>, the credential is not one this provider's devices connect with, or an option is out of range.</exception>
    IDeviceConnection CreateDeviceConnection(DeviceConnectionOptions options);

}

/// <summary>What a provider supports. A missing feature is reported here, never silently ignored.</summary>
public sealed record ProviderCapabilities
{
    /// <summary>Credential kinds the registry can issue.</summary>
    public IReadOnlySet<CredentialKind> CredentialKinds { get; init; } = new HashSet<CredentialKind>();

    /// <summary>
    /// The credential kind to request when the application has no preference; always one of <see cref="CredentialKinds"/>
    /// (X.509 everywhere but GCP-style, whose devices sign JWTs with a registered public key).
    /// </summary>
    public CredentialKind DefaultCredentialKind { get; init; }

    /// <summary>Commands with replies are supported.</summary>
    public bool Commands { get; init; }

    /// <summary>Desired/reported state is supported.</summary>
    public bool DeviceState { get; init; }

    /// <summary>Staged firmware rollouts are supported.</summary>
    public bool FirmwareRollouts { get; init; }

    /// <summary>
    /// Firmware releases and rollouts are kept in a durable store (each decision written before it is acted on), so a
    /// new provider instance on the same store resumes a rollout the previous one left mid-way.
    /// </summary>
    public bool DurableRollouts { get; init; }

    /// <summary>Fleet-side telemetry consumption is supported.</summary>
    public bool TelemetryConsumption { get; init; }

    /// <summary>
    /// The registry keeps a record version (<see cref="Device.Version"/>) and honours the <c>expectedVersion</c> of <see cref="IDeviceRegistry.UpdateAsync"/>
    /// with <see cref="IoTErrorKind.PreconditionFailed"/>. When false, <see cref="Device.Version"/> is 0 and an update that passes
    /// <c>expectedVersion</c> is refused with <see cref="NotSupportedException"/>, never applied unchecked.
    /// </summary>
    public bool RegistryRecordVersions { get; init; }

    /// <summary>
    /// A command to a registered device that is not connected fails at once with <see cref="IoTErrorKind.DeviceOffline"/>.
    /// When false the provider cannot tell (AWS MQTT request/response has no presence check), so the command is sent and
    /// ends in <see cref="IoTErrorKind.CommandTimeout"/> after <see cref="DeviceCommand.Timeout"/>.
    /// </summary>
    public bool CommandsDetectOfflineDevices { get; init; }

    /// <summary>
    /// The shortest <see cref="DeviceCommand.Timeout"/> the provider accepts: 1 s (the neutral rule) unless the cloud sets a
    /// higher floor (Azure IoT Hub direct methods: 5 s). A shorter timeout is refused with
    /// <see cref="ArgumentOutOfRangeException"/> before anything is sent, never silently lengthened.
    /// </summary>
    public TimeSpan MinCommandTimeout { get; init; } = DeviceCommand.MinTimeout;

    /// <summary>
    /// <see cref="DevicePresence.Connected"/> is answered (true or false) for every device. False where the cloud keeps no
    /// connection state (GCP-style: only last heartbeat, event and state times), so <c>Connected</c> is always null there.
    /// </summary>
    public bool PresenceConnectionState { get; init; }

    /// <summary>
    /// <see cref="IDeviceRegistry.ReadPresenceEventsAsync"/> streams connect/disconnect events. When false it throws
    /// <see cref="NotSupportedException"/> (Azure: the events reach only an Event Hubs route; GCP-style: none exist).
    /// </summary>
    public bool PresenceEvents { get; init; }

    /// <summary>
    /// How far behind a presence answer may be: zero when exact, <see langword="null"/> when the cloud states no bound
    /// (the same value as <see cref="DevicePresence.MaxStaleness"/>).
    /// </summary>
    public TimeSpan? PresenceStaleness { get; init; }

    /// <summary>
    /// <see cref="SecurityPatching.RestrictDevicesBelowMinimumAsync"/> can hold devices below the fleet's minimum version to
    /// firmware-update traffic only. True on Local, whose broker enforces it per topic. False on the clouds (AWS IoT policies
    /// are shared by many things, Azure IoT Hub and the GCP-style bridge have no per-device topic rules the SDK can set),
    /// where the call is refused with <see cref="NotSupportedException"/> before anything changes; disabling
    /// (<see cref="SecurityPatching.DisableDevicesBelowMinimumAsync"/>) works on every provider.
    /// </summary>
    public bool FirmwareOnlyRestriction { get; init; }

    /// <summary>The largest telemetry message the transport accepts, in bytes.</summary>
    public int MaxTelemetryMessageBytes { get; init; }

    /// <summary>The metering unit telemetry is billed in, in bytes; 0 when not metered.</summary>
    public int TelemetryBillingUnitBytes { get; init; }
}
