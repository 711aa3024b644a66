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
    /// dead-letters the alert (<see cref="WebhookDeadLetterReason.RetryAfterTooLong"/>) rather than holding every later alert
    /// behind it or retrying before the receiver asked.
    /// </summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>One attempt's limit, on the sink's clock; null: none (an injected <see cref="HttpClient.Timeout"/> still applies). Default 10 s.</summary>
    public TimeSpan? AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Alerts waiting to be sent. When full, a new alert is dead-lettered at once (<see cref="WebhookDeadLetterReason.QueueFull"/>):
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

/// <summary>Why a <see cref="WebhookAlertSink"/> gave up on an alert.</summary>
public enum WebhookDeadLetterReason
{
    /// <summary>The queue was full when the alert arrived: the receiver is slower than the alerts.</summary>
    QueueFull,

    /// <summary>Every attempt failed with a retryable error (network, timeout, 408, 429, 5xx).</summary>
    RetriesExhausted,

    /// <summary>The receiver answered a status that is not retried (a 4xx other than 408/429, or a redirect): resending would not help.</summary>
    Rejected,

    /// <summary>The receiver asked to wait longer than <see cref="WebhookAlertSinkOptions.MaxDelay"/>.</summary>
    RetryAfterTooLong,

    /// <summary>The sink was closed or disposed before the alert could be delivered.</summary>
    Abandoned,
}

/// <summary>An alert the sink gave up on.</summary>
/// <param name="Alert">The alert.</param>
/// <param name="Reason">Why.</param>
/// <param name="Attempts">POSTs sent for it (0 when it never left the queue).</param>
/// <param name="LastStatus">The last HTTP status received, when there was an answer.</param>
/// <param name="LastErrorType">The type of the last exception (e.g. <c>HttpRequestException</c>), when an attempt failed without an answer.</param>
public sealed record WebhookDeadLetter(Alert Alert, WebhookDeadLetterReason Reason, int Attempts, int? LastStatus, string? LastErrorType);
