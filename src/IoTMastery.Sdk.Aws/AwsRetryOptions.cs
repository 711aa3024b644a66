using IoTMastery.Sdk.Http;

namespace IoTMastery.Sdk.Aws;

/// <summary>Bounds for retrying idempotent calls (throttling, 5xx, lost connections and answers); each retry is counted on <c>iotmastery.http.retries</c>.</summary>
public sealed record AwsRetryOptions
{
    /// <summary>Retries after the first attempt (AWS SDKs default to 2; 0 disables retries).</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>Base of the exponential backoff, with jitter; a Retry-After from the service wins when it is no longer than <see cref="MaxDelay"/>; a longer one ends the call with the service's typed error.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Cap for one backoff delay.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(20);

    internal void Validate() => HttpRetryBounds.Validate(MaxRetries, BaseDelay, MaxDelay);

    internal HttpRetryBounds ToBounds() => new(MaxRetries, BaseDelay, MaxDelay);
}
