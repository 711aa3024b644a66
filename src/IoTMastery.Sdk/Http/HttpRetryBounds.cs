namespace IoTMastery.Sdk.Http;

/// <summary>
/// How often and how patiently a provider's HTTP client repeats a request that failed transiently.
/// The cloud providers map their public retry options (or, for GCP-style, Google's per-RPC service configs) onto this.
/// </summary>
/// <param name="MaxRetries">Attempts after the first; 0 sends once.</param>
/// <param name="BaseDelay">The first backoff delay.</param>
/// <param name="MaxDelay">
/// The largest backoff delay, and the longest service Retry-After the call waits out; a longer one ends the call at once
/// with the service's error (see <see cref="HttpRetryPipeline"/>).
/// </param>
internal sealed record HttpRetryBounds(int MaxRetries, TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    /// <summary>The most retries any provider allows; more only lengthens an outage for the caller.</summary>
    public const int MaxRetriesLimit = 10;

    /// <summary>
    /// A fixed backoff per retry (0-based) instead of exponential backoff with jitter from <see cref="BaseDelay"/>;
    /// the GCP-style provider follows Google's service configs this way.
    /// </summary>
    public Func<int, TimeSpan>? Backoff { get; init; }

    /// <summary>
    /// A total time for the call, retries and waits included; none when <see langword="null"/>. A Retry-After longer than
    /// the time left is not waited out either.
    /// </summary>
    public TimeSpan? Deadline { get; init; }
}
