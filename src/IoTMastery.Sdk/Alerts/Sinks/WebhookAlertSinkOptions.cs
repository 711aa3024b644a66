using System.Net.Http.Headers;

namespace IoTMastery.Sdk;

/// <summary>Where and how a <see cref="WebhookAlertSink"/> POSTs alerts. Validated when the sink is created.</summary>
public sealed class WebhookAlertSinkOptions
{
    /// <summary>The absolute http or https URL each alert is POSTed to. Never logged: webhook URLs often carry a secret in the path.</summary>
    public required Uri Url { get; init; }

    /// <summary>
    /// Sent as the <c>Authorization</c> header of every POST, or none when null. A secret: never logged nor put in a
    /// <see cref="WebhookDeadLetter"/>.
    /// </summary>
    public AuthenticationHeaderValue? Authorization { get; init; }

    /// <summary>The header carrying <see cref="Alert.Id"/>, the same on every retry of one alert. Default <c>Idempotency-Key</c>.</summary>
    public string IdempotencyKeyHeader { get; init; } = "Idempotency-Key";

    /// <summary>
    /// Retries after the first attempt, on a network error, an attempt timeout, 408, 429 or any 5xx; never on another status.
    /// Default 5; 0 sends each alert once.
    /// </summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>The first backoff, doubled per retry with jitter (Polly's exponential backoff). Default 1 s; zero retries at once.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The longest wait between attempts. Default 60 s. A receiver's <c>Retry-After</c> is honoured up to this; a longer one
    /// dead-letters the alert (error code <c>RetryAfterTooLong</c>) rather than holding every later alert
    /// behind it or retrying before the receiver asked.
    /// </summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>One attempt's limit, on the sink's clock; null: none (an injected <see cref="HttpClient.Timeout"/> still applies). Default 10 s.</summary>
    public TimeSpan? AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Alerts waiting to be sent. When full, a new alert is dead-lettered at once (<see cref="IoTErrorKind.QueueFull"/>):
    /// a slow receiver never blocks whoever evaluates the rules. Default 1,000.
    /// </summary>
    public int QueueCapacity { get; init; } = 1_000;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Url, nameof(Url));
        if (!Url.IsAbsoluteUri || (Url.Scheme != Uri.UriSchemeHttp && Url.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException("Url must be an absolute http or https URL.", nameof(Url));
        if (string.IsNullOrWhiteSpace(IdempotencyKeyHeader) || IdempotencyKeyHeader.Any(c => c <= ' ' || c >= 127 || c == ':'))
            throw new ArgumentException("IdempotencyKeyHeader must be a non-empty HTTP header name (visible ASCII, no colon).", nameof(IdempotencyKeyHeader));
        if (MaxRetries is < 0 or > 100) throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, "MaxRetries must be 0-100.");
        if (BaseDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(BaseDelay), BaseDelay, "BaseDelay must not be negative.");
        if (MaxDelay < BaseDelay) throw new ArgumentOutOfRangeException(nameof(MaxDelay), MaxDelay, "MaxDelay must be at least BaseDelay.");
        // Polly's own bounds, checked here so the message names the option rather than a Polly property.
        if (MaxDelay > TimeSpan.FromDays(1)) throw new ArgumentOutOfRangeException(nameof(MaxDelay), MaxDelay, "MaxDelay must be at most one day.");
        if (AttemptTimeout is { } t && (t < TimeSpan.FromMilliseconds(10) || t > TimeSpan.FromDays(1)))
            throw new ArgumentOutOfRangeException(nameof(AttemptTimeout), t, "AttemptTimeout must be between 10 ms and one day, or null for none.");
        if (QueueCapacity < 1) throw new ArgumentOutOfRangeException(nameof(QueueCapacity), QueueCapacity, "QueueCapacity must be at least 1.");
    }
}

/// <summary>An alert a <see cref="WebhookAlertSink"/> gave up on, and why.</summary>
/// <param name="Alert">The alert.</param>
/// <param name="Error">
/// Why, in the SDK's one error type (provider <c>Webhook</c>), so a handler branches on <see cref="IoTException.Kind"/> and
/// <see cref="IoTException.IsTransient"/> as for any other failure. Its <see cref="IoTException.ErrorCode"/> names the case:
/// <list type="bullet">
/// <item><c>QueueFull</c> (kind <see cref="IoTErrorKind.QueueFull"/>): the queue was full when the alert arrived; the receiver is slower than the alerts.</item>
/// <item><c>RetriesExhausted</c>: every attempt failed with a retryable error; kind <see cref="IoTErrorKind.Throttled"/> after a 429, else <see cref="IoTErrorKind.Unknown"/> (transient).</item>
/// <item><c>RetryAfterTooLong</c>: the receiver asked to wait longer than <see cref="WebhookAlertSinkOptions.MaxDelay"/> (<see cref="IoTException.RetryAfter"/>); kind as for <c>RetriesExhausted</c>.</item>
/// <item><c>Rejected</c>: a status that is not retried (a 4xx other than 408/429, or a redirect); the kind the status means (401 <see cref="IoTErrorKind.Authentication"/>, 403 <see cref="IoTErrorKind.Authorization"/>, 404 <see cref="IoTErrorKind.NotFound"/>, 413 <see cref="IoTErrorKind.PayloadTooLarge"/>, ...), not transient.</item>
/// <item><c>Abandoned</c> (kind <see cref="IoTErrorKind.Unknown"/>, transient): the sink was closed or disposed first.</item>
/// </list>
/// <see cref="IoTException.HttpStatus"/> is the last status received, when there was an answer; <see cref="Exception.InnerException"/>
/// the last attempt's exception (e.g. <see cref="HttpRequestException"/>) when it failed without one. The message says what
/// happened and never carries the URL or the <see cref="WebhookAlertSinkOptions.Authorization"/> header.
/// </param>
/// <param name="Attempts">POSTs sent for it (0 when it never left the queue).</param>
public sealed record WebhookDeadLetter(Alert Alert, IoTException Error, int Attempts);
