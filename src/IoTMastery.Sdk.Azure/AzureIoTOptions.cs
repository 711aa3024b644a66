using Azure.Core;
using IoTMastery.Sdk.Http;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Settings of the Azure IoT Hub provider. Set <see cref="ConnectionString"/> (a service policy such as <c>iothubowner</c>),
/// or <see cref="HostName"/> with <see cref="Credential"/> for Microsoft Entra ID. <see cref="ToString"/> hides secrets.
/// </summary>
public sealed class AzureIoTOptions
{
    /// <summary>A service connection string: <c>HostName={hub}.azure-devices.net;SharedAccessKeyName=…;SharedAccessKey=…</c>. Secret.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The hub host (for example <c>myhub.azure-devices.net</c>) when authenticating with <see cref="Credential"/>.</summary>
    public string? HostName { get; set; }

    /// <summary>Any Azure.Identity credential (DefaultAzureCredential, managed identity …) for the service API; needs an IoT Hub data role.</summary>
    public TokenCredential? Credential { get; set; }

    /// <summary>Where service REST calls go instead of <c>https://{HostName}</c> (a gateway or a test double); the SAS audience and Host header stay <see cref="HostName"/>.</summary>
    public Uri? ServiceEndpoint { get; set; }

    /// <summary>
    /// The HTTP handler, per-attempt timeout (default 100 s, as the official SDK) and retry bounds (default 3 retries from
    /// 500 ms up to 10 s) of the service REST calls, and where devices connect: <see cref="IoTTransportOptions.DeviceHost"/>
    /// replaces the hub host for the MQTT connection only (a gateway or a test double; the user name and SAS audience keep the
    /// hub host), <see cref="IoTTransportOptions.DevicePort"/> defaults to 8883 and <see cref="IoTTransportOptions.TrustedRoots"/>
    /// to the system store.
    /// </summary>
    public IoTTransportOptions Transport { get; set; } = new();

    /// <summary>How long the hub waits for an offline device to connect before a direct method fails. Default 0 (fail at once with <see cref="IoTErrorKind.DeviceOffline"/>).</summary>
    public TimeSpan CommandConnectTimeout { get; set; } = TimeSpan.Zero;

    /// <summary>Lifetime of service and device SAS tokens. Default 1 hour; 5 minutes to 1 day.</summary>
    public TimeSpan SasTimeToLive { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The MQTT keep-alive. Default 180 s (the Node SDK's); at most 1177 s (the hub closes idle connections at 1.5 × keep-alive, capped at 1767 s).</summary>
    public TimeSpan DeviceKeepAlive { get; set; } = TimeSpan.FromSeconds(180);

    /// <summary>Application properties put on every telemetry message (for routing queries).</summary>
    public IReadOnlyDictionary<string, string>? TelemetryProperties { get; set; }

    /// <summary>How long a device waits for the hub to answer a twin request. Default 30 s.</summary>
    public TimeSpan DeviceOperationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Telemetry consumption from the built-in Event Hubs endpoint; without it, <see cref="IIoTProvider.Telemetry"/> throws <see cref="NotSupportedException"/>.</summary>
    public AzureEventHubOptions? EventHub { get; set; }

    /// <summary>
    /// Where the hub's device connection-state events can be read: the built-in endpoint (or an Event Hub) that a message route
    /// with source <c>DeviceConnectionStateEvents</c> sends them to. Use a consumer group of its own. With it,
    /// <see cref="IDeviceRegistry.ReadPresenceEventsAsync"/> streams connects and disconnects and presence answers take the newer of
    /// event and identity; without it, presence polls the identity and twins only and has no event stream.
    /// <see cref="AzureEventHubOptions.CheckpointDirectory"/> makes a restarted reader resume; without one it starts a few seconds
    /// before its first use.
    /// </summary>
    public AzureEventHubOptions? ConnectionStateEvents { get; set; }

    /// <summary>A CA whose certificate is verified in the hub; X.509 credentials are then CA-signed (<c>certificateAuthority</c>) instead of self-signed.</summary>
    public LocalCertificateAuthority? CertificateAuthority { get; set; }

    /// <summary>
    /// The SQLite file that keeps firmware releases and rollouts, so a restarted process resumes its rollouts. Default: a
    /// file under <see cref="Environment.SpecialFolder.LocalApplicationData"/>/IoTMastery/ named after the hub host name (<c>firmware-{hub host}.db</c>), so the
    /// processes of one user managing the same fleet on one machine share it. Created owner-only. Ignored when
    /// <see cref="FirmwareStore"/> is set.
    /// </summary>
    public string? FirmwareStorePath { get; set; }

    /// <summary>
    /// Where firmware releases and rollouts live, instead of <see cref="FirmwareStorePath"/>: for example a database shared by
    /// managing processes on several machines. The provider does not dispose it.
    /// </summary>
    internal IoTMastery.Sdk.Providers.IFirmwareStore? FirmwareStore { get; set; }

    /// <summary>Checks the settings; throws an <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (ConnectionString is null && (HostName is null || Credential is null))
            throw new ArgumentException("Set ConnectionString, or HostName together with Credential.", nameof(ConnectionString));
        if (ConnectionString is not null)
        {
            var parsed = IotHubConnectionString.Parse(ConnectionString);
            if (parsed.DeviceId is not null)
                throw new ArgumentException("ConnectionString must be a service (policy) connection string, not a device's.", nameof(ConnectionString));
            if (parsed.SharedAccessKey is not null && parsed.SharedAccessKeyName is null)
                throw new ArgumentException("ConnectionString needs SharedAccessKeyName with SharedAccessKey.", nameof(ConnectionString));
        }
        if (HostName is not null && Uri.CheckHostName(HostName) == UriHostNameType.Unknown)
            throw new ArgumentException($"HostName '{HostName}' is not a host name.", nameof(HostName));
        if (ServiceEndpoint is { IsAbsoluteUri: false } || ServiceEndpoint is { Scheme: not ("https" or "http") })
            throw new ArgumentException("ServiceEndpoint must be an absolute https (or http) URI.", nameof(ServiceEndpoint));
        if (Transport is null)
            throw new ArgumentNullException(nameof(Transport), "Transport must not be null; new() keeps every default.");
        Transport.Validate();
        if (CommandConnectTimeout < TimeSpan.Zero || CommandConnectTimeout > TimeSpan.FromSeconds(300))
            throw new ArgumentOutOfRangeException(nameof(CommandConnectTimeout), CommandConnectTimeout, "CommandConnectTimeout must be 0 to 300 s.");
        if (SasTimeToLive < TimeSpan.FromMinutes(5) || SasTimeToLive > TimeSpan.FromDays(1))
            throw new ArgumentOutOfRangeException(nameof(SasTimeToLive), SasTimeToLive, "SasTimeToLive must be 5 minutes to 1 day.");
        if (DeviceKeepAlive < TimeSpan.FromSeconds(1) || DeviceKeepAlive > TimeSpan.FromSeconds(1177))
            throw new ArgumentOutOfRangeException(nameof(DeviceKeepAlive), DeviceKeepAlive, "DeviceKeepAlive must be 1 to 1177 s.");
        if (DeviceOperationTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(DeviceOperationTimeout), DeviceOperationTimeout, "DeviceOperationTimeout must be positive.");
        FirmwareStoreOptions.ValidatePath(FirmwareStorePath, nameof(FirmwareStorePath));
        // Both are Event Hubs endpoints read the same way, so one check covers both; the section name prefixes each error.
        EventHub?.Validate(nameof(EventHub));
        ConnectionStateEvents?.Validate(nameof(ConnectionStateEvents));
    }

    /// <summary>The per-attempt timeout when <see cref="IoTTransportOptions.RequestTimeout"/> is not set: 100 s, as the official SDK.</summary>
    internal static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(100);

    /// <summary>The retry bounds a retry setting left unset in <see cref="Transport"/> falls back to.</summary>
    internal static readonly HttpRetryBounds DefaultRetry = new(3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10));

    /// <summary>The hub host: from the connection string, or <see cref="HostName"/>.</summary>
    internal string ResolveHostName() => ConnectionString is not null ? IotHubConnectionString.Parse(ConnectionString).HostName : HostName!;

    /// <summary>Describes the options without secrets.</summary>
    public override string ToString() => $"AzureIoTOptions {{ HostName = {(ConnectionString is null && HostName is null ? null : ResolveHostName())}, ServiceEndpoint = {ServiceEndpoint}, Credential = {Credential?.GetType().Name}, secrets redacted }}";
}
