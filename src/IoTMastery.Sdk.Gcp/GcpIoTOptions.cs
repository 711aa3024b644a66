namespace IoTMastery.Sdk.Gcp;

/// <summary>Settings of <see cref="GcpIoTProvider"/>.</summary>
/// <remarks>
/// <para>
/// The credentials of the registry and Pub/Sub REST calls follow from what is given, as in Google's own libraries
/// (<c>GoogleCredential.FromAccessToken</c>, <c>FromFile</c>, <c>GetApplicationDefault</c>): <see cref="AccessTokenProvider"/> set,
/// bearer tokens from it; <see cref="ServiceAccountJsonPath"/> set, that service account; both set, refused by
/// <see cref="Validate"/>; neither, Google Application Default Credentials.
/// </para>
/// <para>
/// Decided per endpoint (<see cref="CloudIotBaseUrl"/> and <see cref="PubSubBaseUrl"/> separately): bearer tokens are never sent
/// over plain http. An http endpoint (what the Pub/Sub emulator and loopback test servers speak) gets no credentials when none
/// was configured, and <see cref="Validate"/> refuses <see cref="AccessTokenProvider"/> or <see cref="ServiceAccountJsonPath"/>
/// together with an http endpoint. In ClearBlade mode (<see cref="ClearBladeServiceAccountJsonPath"/>) the registry uses the
/// ClearBlade token and these rules apply to Pub/Sub only.
/// </para>
/// </remarks>
public sealed class GcpIoTOptions
{
    /// <summary>The project id (also the device JWT audience). Required.</summary>
    public string ProjectId { get; set; } = "";

    /// <summary>The registry's region. Default <c>us-central1</c>.</summary>
    public string Location { get; set; } = "us-central1";

    /// <summary>The device registry id. Required.</summary>
    public string RegistryId { get; set; } = "";

    /// <summary>
    /// The v1-shaped registry root of the vendor; <see langword="null"/> uses <see cref="CloudIotClient.DefaultBaseUrl"/> (retired by
    /// Google). An http root (a loopback double) gets no credentials (see the remarks on <see cref="GcpIoTOptions"/>).
    /// </summary>
    public Uri? CloudIotBaseUrl { get; set; }

    /// <summary>
    /// The ClearBlade IoT Core service-account JSON file from ClearBlade's console (what <c>CLEARBLADE_CONFIGURATION</c> names
    /// for the official client). Setting it, or <see cref="ClearBladeServiceAccountJson"/>, selects ClearBlade mode: registry
    /// calls use ClearBlade's REST scheme with that account's token instead of <see cref="CloudIotBaseUrl"/> and the
    /// Google credentials (<see cref="AccessTokenProvider"/>, <see cref="ServiceAccountJsonPath"/> or ADC), which then serve Pub/Sub only (Pub/Sub stays Google's, or an emulator). Both
    /// <see langword="null"/> (the default): the v1 REST shape.
    /// </summary>
    public string? ClearBladeServiceAccountJsonPath { get; set; }

    /// <summary>
    /// The ClearBlade service-account JSON as text (<c>project</c>, <c>systemKey</c>, <c>token</c>, <c>url</c>), for example from
    /// a secret store or an environment variable, instead of <see cref="ClearBladeServiceAccountJsonPath"/>; give one of the two.
    /// Secret: never printed by <see cref="ToString"/> nor put into exception messages.
    /// </summary>
    public string? ClearBladeServiceAccountJson { get; set; }

    /// <summary>The ClearBlade account as its four values, instead of either JSON form (tests build it directly).</summary>
    internal ClearBladeServiceAccount? ClearBladeServiceAccount { get; set; }

    /// <summary>Whether ClearBlade mode is selected: a ClearBlade service account is given in any form.</summary>
    internal bool IsClearBlade => ClearBladeServiceAccountJsonPath is not null || ClearBladeServiceAccountJson is not null || ClearBladeServiceAccount is not null;

    /// <summary>Loads and checks the ClearBlade service account; throws <see cref="ArgumentException"/> naming the option or field.</summary>
    internal ClearBladeServiceAccount ResolveClearBlade()
    {
        var given = (ClearBladeServiceAccountJsonPath is null ? 0 : 1) + (ClearBladeServiceAccountJson is null ? 0 : 1) + (ClearBladeServiceAccount is null ? 0 : 1);
        if (given != 1)
            throw new ArgumentException("ClearBlade mode needs exactly one of ClearBladeServiceAccountJsonPath and ClearBladeServiceAccountJson.", nameof(ClearBladeServiceAccountJsonPath));
        if (ClearBladeServiceAccount is { } account)
        {
            account.Validate();
            return account;
        }
        return ClearBladeServiceAccountJson is { } json ? Gcp.ClearBladeServiceAccount.FromJson(json) : Gcp.ClearBladeServiceAccount.FromJsonFile(ClearBladeServiceAccountJsonPath!);
    }

    /// <summary>
    /// The Pub/Sub root; <see langword="null"/> uses Google's. Point it at an emulator for local runs: an http root gets no
    /// credentials (see the remarks on <see cref="GcpIoTOptions"/>).
    /// </summary>
    public Uri? PubSubBaseUrl { get; set; }

    /// <summary>
    /// A Google service-account key file (the JSON the Google Cloud console hands out), read when the provider starts; its
    /// tokens authenticate the registry and Pub/Sub calls. Not with <see cref="AccessTokenProvider"/>, nor with an http endpoint.
    /// <see langword="null"/> (the default) and no <see cref="AccessTokenProvider"/>: Application Default Credentials.
    /// </summary>
    public string? ServiceAccountJsonPath { get; set; }

    /// <summary>
    /// Returns the current access token, sent as <c>Authorization: Bearer</c> and asked before every request so tokens can
    /// rotate: a vendor's token, or any Google credential of your own (with your scopes) through its
    /// <c>GetAccessTokenForRequestAsync</c>. Not with <see cref="ServiceAccountJsonPath"/>, nor with an http endpoint.
    /// Code-only (not bound from configuration). The token is never logged.
    /// </summary>
    public Func<CancellationToken, ValueTask<string>>? AccessTokenProvider { get; set; }

    /// <summary>The topic devices' telemetry reaches (needed for <see cref="DeviceTelemetryToPubSub"/>).</summary>
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
    /// the roots its certificate must chain to (default the system store). Retries (<see cref="IoTTransportOptions.MaxRetries"/>,
    /// <see cref="IoTTransportOptions.RetryBaseDelay"/>, <see cref="IoTTransportOptions.RetryMaxDelay"/>): all unset, each RPC
    /// retries as Google's service configs say (which codes, how often, within which total deadline); any set, the RPCs that
    /// retry at all use those bounds instead (exponential backoff with jitter, as on AWS and Azure), still only for the codes Google lists
    /// for that RPC and within its deadline. RPCs that are not safe to repeat (device create and patch, gateway binds, Pub/Sub
    /// publish) are sent once either way.
    /// </summary>
    public IoTTransportOptions Transport { get; set; } = new();

    /// <summary>
    /// How a device's telemetry leaves it. <see langword="false"/> (the default): as MQTT events on <c>/devices/{id}/events</c>,
    /// which the vendor bridge forwards to Pub/Sub (at most 256 KB a message). <see langword="true"/>: straight to the Pub/Sub
    /// topic <see cref="TelemetryTopicId"/> over REST, with the provider's Pub/Sub credentials (the device needs Pub/Sub access).
    /// </summary>
    // A bool, not a two-value enum type (issue #14): there are two routes and the bridge is the norm.
    public bool DeviceTelemetryToPubSub { get; set; }

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
    internal CloudIotRegistryPath Registry => new(ProjectId, Location, RegistryId);

    /// <summary>Checks every setting; throws <see cref="ArgumentException"/> naming the rule.</summary>
    public void Validate()
    {
        PubSubNames.ValidateProject(ProjectId, nameof(ProjectId));
        Registry.Validate();
        foreach (var (id, kind, name) in new[] { (TelemetryTopicId, "Topic", nameof(TelemetryTopicId)), (TelemetrySubscriptionId, "Subscription", nameof(TelemetrySubscriptionId)), (CommandReplySubscriptionId, "Subscription", nameof(CommandReplySubscriptionId)) })
            if (id is not null) PubSubNames.ValidateResourceId(id, kind, name);
        if (string.IsNullOrEmpty(CommandReplySubfolder) || CommandReplySubfolder.Length > 256 || CommandReplySubfolder.AsSpan().IndexOfAny("+#\0") >= 0 || CommandReplySubfolder.StartsWith('/'))
            throw new ArgumentException("CommandReplySubfolder is 1-256 characters without '+', '#', NUL or a leading '/'.", nameof(CommandReplySubfolder));
        if (IsClearBlade)
        {
            if (CloudIotBaseUrl is not null)
                throw new ArgumentException("ClearBlade mode takes its hosts from the service account; leave CloudIotBaseUrl unset.", nameof(CloudIotBaseUrl));
            var account = ResolveClearBlade();
            if (!string.Equals(account.Project, ProjectId, StringComparison.Ordinal))
                throw new ArgumentException($"ProjectId '{ProjectId}' differs from the ClearBlade service account's project '{account.Project}'.", nameof(ProjectId));
        }
        if (Transport is null) throw new ArgumentNullException(nameof(Transport), "Transport must not be null; new() keeps every default.");
        Transport.Validate();
        ValidateAuthentication();
        if (PresenceKeepAlive is { } keepAlive && (keepAlive < TimeSpan.FromSeconds(1) || keepAlive > TimeSpan.FromHours(1)))
            throw new ArgumentOutOfRangeException(nameof(PresenceKeepAlive), keepAlive, "PresenceKeepAlive must be 1 s to 1 h.");
        if (DeviceTelemetryToPubSub && TelemetryTopicId is null)
            throw new ArgumentException("DeviceTelemetryToPubSub needs TelemetryTopicId.", nameof(TelemetryTopicId));
        if (JwtLifetime < TimeSpan.FromMinutes(1) || JwtLifetime > DeviceJwt.MaxLifetime)
            throw new ArgumentOutOfRangeException(nameof(JwtLifetime), JwtLifetime, "JwtLifetime must be between 1 minute and 24 hours.");
        if (EmptyPullDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(EmptyPullDelay), EmptyPullDelay, "EmptyPullDelay must not be negative.");
        FirmwareStoreOptions.ValidatePath(FirmwareStorePath, nameof(FirmwareStorePath));
    }

    private void ValidateAuthentication()
    {
        ValidateEndpoint(CloudIotBaseUrl, nameof(CloudIotBaseUrl));
        ValidateEndpoint(PubSubBaseUrl, nameof(PubSubBaseUrl));
        if (AccessTokenProvider is not null && ServiceAccountJsonPath is not null)
            throw new ArgumentException("AccessTokenProvider and ServiceAccountJsonPath are both set; give one of them (or neither, for Application Default Credentials).", nameof(AccessTokenProvider));
        if (ServiceAccountJsonPath is not null && (ServiceAccountJsonPath.Length == 0 || !File.Exists(ServiceAccountJsonPath)))
            throw new ArgumentException($"ServiceAccountJsonPath '{ServiceAccountJsonPath}' does not name an existing file.", nameof(ServiceAccountJsonPath));
        if (ConfiguredCredential is not { } option) return;
        // Bearer tokens in clear text can be read and replayed by anyone on the path (Azure.Core refuses the same): an explicit
        // credential with an http endpoint is a mistake to report, not to send.
        foreach (var (url, name) in CredentialedEndpoints())
            if (IsPlainHttp(url))
                throw new ArgumentException($"{option} is set but {name} '{url}' is plain http; bearer tokens are only sent over https. " +
                    $"Use an https {name}, or leave {option} unset for an emulator (an http endpoint then gets no credentials).", option);
    }

    private static void ValidateEndpoint(Uri? url, string name)
    {
        if (url is not null && (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp)))
            throw new ArgumentException($"{name} '{url}' must be an absolute https (or, for an emulator, http) URL.", name);
    }

    private static bool IsPlainHttp(Uri url) => url.IsAbsoluteUri && url.Scheme == Uri.UriSchemeHttp;

    /// <summary>The option that names the credentials, or <see langword="null"/> for Application Default Credentials.</summary>
    private string? ConfiguredCredential =>
        AccessTokenProvider is not null ? nameof(AccessTokenProvider) : ServiceAccountJsonPath is not null ? nameof(ServiceAccountJsonPath) : null;

    /// <summary>The endpoints that carry these credentials: the registry (unless ClearBlade, which has its own token) and Pub/Sub.</summary>
    private IEnumerable<(Uri Url, string Name)> CredentialedEndpoints()
    {
        if (!IsClearBlade) yield return (CloudIotBaseUrl ?? CloudIotClient.DefaultBaseUrl, nameof(CloudIotBaseUrl));
        yield return (PubSubBaseUrl ?? PubSubClient.DefaultBaseUrl, nameof(PubSubBaseUrl));
    }

    /// <summary>The credential kind one endpoint gets under the rules in the remarks (for <see cref="ToString"/>; names no secret).</summary>
    private string CredentialKind(Uri url) =>
        IsPlainHttp(url) && ConfiguredCredential is null ? "None (http)"
        : AccessTokenProvider is not null ? "AccessToken" : ServiceAccountJsonPath is not null ? "ServiceAccountFile" : "ApplicationDefault";

    /// <summary>
    /// The authenticators of the registry and of Pub/Sub, each by the rules in the remarks; reads the service-account file
    /// (disk, no network). One instance serves both, so a token is fetched once for the two.
    /// </summary>
    internal async Task<(IGcpAuthenticator CloudIot, IGcpAuthenticator PubSub)> CreateAuthenticatorsAsync(CancellationToken cancellationToken)
    {
        IGcpAuthenticator configured = AccessTokenProvider is { } tokens ? new VendorTokenAuthenticator("Authorization", tokens)
            : ServiceAccountJsonPath is { } path ? await GoogleOAuthAuthenticator.FromServiceAccountFileAsync(path, cancellationToken).ConfigureAwait(false)
            : GoogleOAuthAuthenticator.FromApplicationDefault();
        // Validate refused configured credentials with an http endpoint, so only ADC reaches the "none over http" branch.
        IGcpAuthenticator For(Uri url) => IsPlainHttp(url) ? NoAuthenticator.Instance : configured;
        return (For(CloudIotBaseUrl ?? CloudIotClient.DefaultBaseUrl), For(PubSubBaseUrl ?? PubSubClient.DefaultBaseUrl));
    }

    /// <summary>Describes the settings; credentials are named by kind only (per endpoint when they differ), so no token is printed.</summary>
    public override string ToString()
    {
        var endpoints = CredentialedEndpoints().Select(e => (Name: e.Name == nameof(CloudIotBaseUrl) ? "CloudIot" : "PubSub", Kind: CredentialKind(e.Url))).ToArray();
        var credentials = endpoints.Select(e => e.Kind).Distinct().Count() == 1 && !IsClearBlade
            ? endpoints[0].Kind
            : string.Join(", ", endpoints.Select(e => $"{e.Name}: {e.Kind}"));
        return $"GcpIoTOptions {{ Registry = {ProjectId}/{Location}/{RegistryId}, CloudIot = {(IsClearBlade ? "ClearBlade " + (ClearBladeServiceAccountJsonPath ?? "(account redacted)") : CloudIotBaseUrl)}, PubSub = {PubSubBaseUrl}, Bridge = {Transport?.DeviceHost}:{Transport?.DevicePort}, " +
            $"Telemetry = {TelemetryTopicId}/{TelemetrySubscriptionId}, Replies = {CommandReplySubscriptionId}, Credentials = {credentials} (redacted) }}";
    }
}
