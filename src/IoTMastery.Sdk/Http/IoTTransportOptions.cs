using System.Security.Cryptography.X509Certificates;
using IoTMastery.Sdk.Http;

namespace IoTMastery.Sdk;

/// <summary>
/// How a cloud provider reaches its service and how its devices reach their MQTT endpoint: the same shape, as
/// <c>Transport</c>, on the AWS, Azure and GCP-style provider options. The Local provider makes no HTTP calls and runs its
/// broker in-process, so it has no transport options.
/// </summary>
/// <remarks>
/// Every HTTP call the provider itself makes (registry, state, commands, publish, Pub/Sub) goes through
/// <see cref="HttpHandler"/>; token requests made inside a cloud's own credential library (AWS credential chain,
/// Azure.Identity, Google application default credentials) use that library's HTTP stack.
/// </remarks>
public sealed class IoTTransportOptions
{
    /// <summary>The longest <see cref="RequestTimeout"/> accepted: a stuck call should fail rather than hold its caller for longer.</summary>
    public static readonly TimeSpan MaxRequestTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The handler every service HTTP request goes through: a proxy, logging, custom TLS trust or a test server. The
    /// provider disposes it when it is disposed. <see langword="null"/> (the default): a pooled
    /// <see cref="SocketsHttpHandler"/> whose connections are renewed every 5 minutes, so DNS changes are picked up.
    /// </summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>
    /// How long one HTTP attempt may wait for the service's answer before it counts as a (transient) timeout; positive and at
    /// most <see cref="MaxRequestTimeout"/>. <see langword="null"/> (the default): the provider's default (AWS and GCP-style
    /// 30 s, Azure 100 s as the official Azure SDK).
    /// </summary>
    public TimeSpan? RequestTimeout { get; set; }

    /// <summary>
    /// Retries of an idempotent call after its first attempt, 0 to 10 (0 sends once); calls that are not idempotent are sent
    /// once whatever this says, and each retry is counted on <c>iotmastery.http.retries</c>. <see langword="null"/> (the
    /// default): the provider's default (AWS and Azure 3).
    /// </summary>
    /// <remarks>
    /// The three retry settings fall back one by one: each one left <see langword="null"/> takes the provider's default. The
    /// GCP-style provider follows Google's per-RPC retry configurations while all three are <see langword="null"/>; once one
    /// is set, the others default as on AWS (3 retries from 200 ms up to 20 s).
    /// </remarks>
    public int? MaxRetries { get; set; }

    /// <summary>
    /// The first backoff delay between retries, doubled per retry with jitter; positive. <see langword="null"/> (the
    /// default): the provider's default (AWS 200 ms, Azure 500 ms).
    /// </summary>
    public TimeSpan? RetryBaseDelay { get; set; }

    /// <summary>
    /// The largest backoff delay, at least <see cref="RetryBaseDelay"/> (or the provider's default for it). A service's
    /// Retry-After is waited out when it is no longer than this; a longer one ends the call with the service's typed,
    /// transient error. <see langword="null"/> (the default): the provider's default (AWS 20 s, Azure 10 s).
    /// </summary>
    public TimeSpan? RetryMaxDelay { get; set; }

    /// <summary>
    /// The host devices open their MQTT connection to instead of the cloud's own (a gateway, a proxy or a test double); the
    /// MQTT user name, token audiences and TLS server name the cloud expects stay the cloud's. <see langword="null"/> (the
    /// default): AWS the account's iot:Data-ATS endpoint, Azure the hub host; the GCP-style provider needs it for device
    /// connections (the vendor's MQTT bridge).
    /// </summary>
    public string? DeviceHost { get; set; }

    /// <summary>The devices' MQTT TLS port, 1 to 65535. Default 8883 (AWS also accepts 443, then ALPN <c>x-amzn-mqtt-ca</c> is offered).</summary>
    public int DevicePort { get; set; } = 8883;

    /// <summary>
    /// Roots the device side's MQTT server certificate must chain to. <see langword="null"/> (the default): the system store.
    /// HTTP trust is the <see cref="HttpHandler"/>'s.
    /// </summary>
    public X509Certificate2Collection? TrustedRoots { get; set; }

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the bad one as <c>Transport.&lt;member&gt;</c>.</summary>
    public void Validate()
    {
        if (RequestTimeout is { } timeout && (timeout <= TimeSpan.Zero || timeout > MaxRequestTimeout))
            throw new ArgumentOutOfRangeException("Transport." + nameof(RequestTimeout), timeout, $"Transport.RequestTimeout must be positive and at most {MaxRequestTimeout.TotalMinutes} minutes.");
        if (MaxRetries is < 0 or > HttpRetryBounds.MaxRetriesLimit)
            throw new ArgumentOutOfRangeException("Transport." + nameof(MaxRetries), MaxRetries, $"Transport.MaxRetries must be 0 to {HttpRetryBounds.MaxRetriesLimit}.");
        if (RetryBaseDelay is { } baseDelay && baseDelay <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException("Transport." + nameof(RetryBaseDelay), baseDelay, "Transport.RetryBaseDelay must be positive.");
        if (RetryMaxDelay is { } maxDelay && maxDelay <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException("Transport." + nameof(RetryMaxDelay), maxDelay, "Transport.RetryMaxDelay must be positive.");
        if (RetryBaseDelay is { } b && RetryMaxDelay is { } m && m < b)
            throw new ArgumentOutOfRangeException("Transport." + nameof(RetryMaxDelay), m, "Transport.RetryMaxDelay must be at least Transport.RetryBaseDelay.");
        if (DeviceHost is not null && (DeviceHost.Length == 0 || Uri.CheckHostName(DeviceHost) == UriHostNameType.Unknown))
            throw new ArgumentException($"Transport.DeviceHost '{DeviceHost}' is not a host name or IP address (no scheme, port or path).", "Transport." + nameof(DeviceHost));
        if (DevicePort is < 1 or > 65535)
            throw new ArgumentOutOfRangeException("Transport." + nameof(DevicePort), DevicePort, "Transport.DevicePort must be 1 to 65535.");
        if (TrustedRoots is { Count: 0 })
            throw new ArgumentException("Transport.TrustedRoots is empty, so no server could be trusted; leave it null to use the system store.", "Transport." + nameof(TrustedRoots));
    }

    /// <summary>The retry bounds when no retry setting is given and the provider has no schedule of its own (AWS's).</summary>
    internal static readonly HttpRetryBounds DefaultRetry = new(3, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(20));

    /// <summary>Whether any of <see cref="MaxRetries"/>, <see cref="RetryBaseDelay"/> and <see cref="RetryMaxDelay"/> is set.</summary>
    internal bool HasRetrySettings => MaxRetries is not null || RetryBaseDelay is not null || RetryMaxDelay is not null;

    /// <summary>
    /// The retry bounds: each setting, or <paramref name="providerDefault"/>'s value for it. A delay that conflicts with the
    /// provider's default for the other one (a base delay past the default maximum) is an argument error naming the set one,
    /// raised when the provider starts, before any call.
    /// </summary>
    internal HttpRetryBounds ResolveRetry(HttpRetryBounds providerDefault)
    {
        var bounds = new HttpRetryBounds(MaxRetries ?? providerDefault.MaxRetries, RetryBaseDelay ?? providerDefault.BaseDelay, RetryMaxDelay ?? providerDefault.MaxDelay);
        if (bounds.MaxDelay < bounds.BaseDelay)
        {
            var name = RetryBaseDelay is not null ? nameof(RetryBaseDelay) : nameof(RetryMaxDelay);
            throw new ArgumentOutOfRangeException("Transport." + name, RetryBaseDelay is not null ? bounds.BaseDelay : bounds.MaxDelay,
                $"Transport.RetryBaseDelay ({bounds.BaseDelay}) must not exceed Transport.RetryMaxDelay ({bounds.MaxDelay}); set both when leaving the provider's default for one.");
        }
        return bounds;
    }

    /// <summary>The per-attempt timeout: <see cref="RequestTimeout"/>, or the provider's default.</summary>
    internal TimeSpan ResolveRequestTimeout(TimeSpan providerDefault) => RequestTimeout ?? providerDefault;

    /// <summary>
    /// The provider's one <see cref="HttpClient"/>, over <see cref="HttpHandler"/> (owned: disposed with the client) or a
    /// pooled default handler. <paramref name="timeout"/> bounds each send; <see cref="Timeout.InfiniteTimeSpan"/> when the
    /// provider applies its own per-attempt timeout.
    /// </summary>
    internal HttpClient CreateHttpClient(TimeSpan timeout) =>
        new(HttpHandler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }, disposeHandler: true) { Timeout = timeout };
}
