namespace IoTMastery.Sdk.Gcp;

/// <summary>How a device's telemetry leaves it.</summary>
public enum GcpDeviceTelemetryRoute
{
    /// <summary>As MQTT events on <c>/devices/{id}/events</c>; the vendor bridge forwards them to Pub/Sub. The default.</summary>
    BridgeEvents,

    /// <summary>Straight to the Pub/Sub telemetry topic over REST (the device needs Pub/Sub credentials).</summary>
    PubSubDirect,
}

/// <summary>Settings of <see cref="GcpIoTProvider"/>.</summary>
public sealed class GcpIoTOptions
{
    /// <summary>The project id (also the device JWT audience). Required.</summary>
    public string ProjectId { get; set; } = "";

    /// <summary>The registry's region. Default <c>us-central1</c>.</summary>
    public string Location { get; set; } = "us-central1";

    /// <summary>The device registry id. Required.</summary>
    public string RegistryId { get; set; } = "";

    /// <summary>The v1-shaped registry root of the vendor; <see langword="null"/> uses <see cref="CloudIotClient.DefaultBaseUrl"/> (retired by Google).</summary>
    public Uri? CloudIotBaseUrl { get; set; }

    /// <summary>
    /// ClearBlade IoT Core mode: registry calls use ClearBlade's REST scheme with these service-account credentials
    /// instead of <see cref="CloudIotBaseUrl"/> and <see cref="Authenticator"/> (which then serve Pub/Sub only).
    /// <see langword="null"/> (the default) keeps the v1 REST shape.
    /// </summary>
    public ClearBladeOptions? ClearBlade { get; set; }

    /// <summary>The Pub/Sub root; <see langword="null"/> uses Google's. Point it at an emulator for local runs.</summary>
    public Uri? PubSubBaseUrl { get; set; }

    /// <summary>Credentials for the registry and Pub/Sub REST calls; <see langword="null"/> uses Google application default credentials.</summary>
    public IGcpAuthenticator? Authenticator { get; set; }

    /// <summary>The topic devices' telemetry reaches (needed for <see cref="GcpDeviceTelemetryRoute.PubSubDirect"/>).</summary>
    public string? TelemetryTopicId { get; set; }

    /// <summary>The subscription the fleet reads telemetry from; without it telemetry consumption is not available.</summary>
    public string? TelemetrySubscriptionId { get; set; }

    /// <summary>
    /// The subscription on the topic the registry routes the <see cref="CommandReplySubfolder"/> events to
    /// (an event notification config with that subfolder match). Without it commands with replies are not available.
    /// </summary>
    public string? CommandReplySubscriptionId { get; set; }

    /// <summary>The events subfolder devices publish command replies on. Default <c>command-replies</c>.</summary>
    public string CommandReplySubfolder { get; set; } = "command-replies";

    /// <summary>
    /// The HTTP handler and per-attempt timeout (default 30 s) of the registry and Pub/Sub REST calls, and where devices
    /// connect: <see cref="IoTTransportOptions.DeviceHost"/> is the vendor's MQTT bridge (required for device connections),
    /// <see cref="IoTTransportOptions.DevicePort"/> its TLS port (default 8883) and <see cref="IoTTransportOptions.TrustedRoots"/>
    /// the roots its certificate must chain to (default the system store). <see cref="IoTTransportOptions.Retry"/> must stay
    /// <see langword="null"/>: each RPC follows Google's own retry configuration (which codes, how often, how long).
    /// </summary>
    public IoTTransportOptions Transport { get; set; } = new();

    /// <summary>How device telemetry is sent. Default <see cref="GcpDeviceTelemetryRoute.BridgeEvents"/>.</summary>
    public GcpDeviceTelemetryRoute DeviceTelemetry { get; set; } = GcpDeviceTelemetryRoute.BridgeEvents;

    /// <summary>Device JWT lifetime, 1 min to 24 h. Default 60 min.</summary>
    public TimeSpan JwtLifetime { get; set; } = TimeSpan.FromMinutes(60);

    /// <summary>
    /// The MQTT keep-alive the fleet's devices use (the SDK's device client: 60 s). When set, presence derives connectivity from
    /// the bridge's last heartbeat/event/state/config-ack times: heard from within 1.5 × keep-alive means connected, and the
    /// answers are stated stale by that window. Null (the default): <see cref="DevicePresence.Connected"/> stays unknown, as
    /// Cloud IoT keeps no connection state. 1 s to 1 h.
    /// </summary>
    public TimeSpan? PresenceKeepAlive { get; set; }

    /// <summary>The wait after an empty Pub/Sub pull. Default 200 ms.</summary>
    public TimeSpan EmptyPullDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The SQLite file that keeps firmware releases and rollouts, so a restarted process resumes its rollouts. Default: a
    /// file under <see cref="Environment.SpecialFolder.LocalApplicationData"/>/IoTMastery/ named after the project, location and registry (<c>firmware-{project}-{location}-{registry}.db</c>), so the
    /// processes of one user managing the same fleet on one machine share it. Created owner-only. Ignored when
    /// <see cref="FirmwareStore"/> is set.
    /// </summary>
    public string? FirmwareStorePath { get; set; }

    /// <summary>
    /// Where firmware releases and rollouts live, instead of <see cref="FirmwareStorePath"/>: for example a database shared by
    /// managing processes on several machines. The provider does not dispose it.
    /// </summary>
    internal IoTMastery.Sdk.Providers.IFirmwareStore? FirmwareStore { get; set; }

    /// <summary>The per-attempt HTTP timeout when <see cref="IoTTransportOptions.RequestTimeout"/> is not set.</summary>
    internal static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The registry path these options name.</summary>
    public CloudIotRegistryPath Registry => new(ProjectId, Location, RegistryId);

    /// <summary>Checks every setting; throws <see cref="ArgumentException"/> naming the rule.</summary>
    public void Validate()
    {
        PubSubNames.ValidateProject(ProjectId, nameof(ProjectId));
        Registry.Validate();
        foreach (var (id, kind, name) in new[] { (TelemetryTopicId, "Topic", nameof(TelemetryTopicId)), (TelemetrySubscriptionId, "Subscription", nameof(TelemetrySubscriptionId)), (CommandReplySubscriptionId, "Subscription", nameof(CommandReplySubscriptionId)) })
            if (id is not null) PubSubNames.ValidateResourceId(id, kind, name);
        if (string.IsNullOrEmpty(CommandReplySubfolder) || CommandReplySubfolder.Length > 256 || CommandReplySubfolder.AsSpan().IndexOfAny("+#\0") >= 0 || CommandReplySubfolder.StartsWith('/'))
            throw new ArgumentException("CommandReplySubfolder is 1-256 characters without '+', '#', NUL or a leading '/'.", nameof(CommandReplySubfolder));
        if (ClearBlade is not null)
        {
            if (CloudIotBaseUrl is not null)
                throw new ArgumentException("ClearBlade mode takes its hosts from the service account; leave CloudIotBaseUrl unset.", nameof(CloudIotBaseUrl));
            var account = ClearBlade.Resolve();
            if (!string.Equals(account.Project, ProjectId, StringComparison.Ordinal))
                throw new ArgumentException($"ProjectId '{ProjectId}' differs from the ClearBlade service account's project '{account.Project}'.", nameof(ProjectId));
        }
        if (Transport is null) throw new ArgumentNullException(nameof(Transport), "Transport must not be null; new() keeps every default.");
        Transport.Validate();
        if (Transport.Retry is not null)
            throw new ArgumentException("Transport.Retry is not supported by the GCP-style provider: each RPC follows Google's retry configuration; leave it null.", "Transport.Retry");
        if (!Enum.IsDefined(DeviceTelemetry)) throw new ArgumentOutOfRangeException(nameof(DeviceTelemetry), DeviceTelemetry, "Unknown telemetry route.");
        if (PresenceKeepAlive is { } keepAlive && (keepAlive < TimeSpan.FromSeconds(1) || keepAlive > TimeSpan.FromHours(1)))
            throw new ArgumentOutOfRangeException(nameof(PresenceKeepAlive), keepAlive, "PresenceKeepAlive must be 1 s to 1 h.");
        if (DeviceTelemetry == GcpDeviceTelemetryRoute.PubSubDirect && TelemetryTopicId is null)
            throw new ArgumentException("PubSubDirect telemetry needs TelemetryTopicId.", nameof(TelemetryTopicId));
        if (JwtLifetime < TimeSpan.FromMinutes(1) || JwtLifetime > DeviceJwt.MaxLifetime)
            throw new ArgumentOutOfRangeException(nameof(JwtLifetime), JwtLifetime, "JwtLifetime must be between 1 minute and 24 hours.");
        if (EmptyPullDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(EmptyPullDelay), EmptyPullDelay, "EmptyPullDelay must not be negative.");
        FirmwareStoreOptions.ValidatePath(FirmwareStorePath, nameof(FirmwareStorePath));
    }

    /// <summary>Describes the settings; the authenticator is named by type only, so no token is printed.</summary>
    public override string ToString() =>
        $"GcpIoTOptions {{ Registry = {ProjectId}/{Location}/{RegistryId}, CloudIot = {(ClearBlade is null ? CloudIotBaseUrl : "ClearBlade")}, PubSub = {PubSubBaseUrl}, Bridge = {Transport?.DeviceHost}:{Transport?.DevicePort}, " +
        $"Telemetry = {TelemetryTopicId}/{TelemetrySubscriptionId}, Replies = {CommandReplySubscriptionId}, Authenticator = {Authenticator?.GetType().Name ?? "application default"} (credentials redacted) }}";
}
