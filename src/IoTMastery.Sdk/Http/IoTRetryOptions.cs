using IoTMastery.Sdk.Http;

namespace IoTMastery.Sdk;

/// <summary>
/// Bounds for repeating an idempotent HTTP call that failed transiently (throttling, 5xx, timeouts, lost connections);
/// each retry is counted on <c>iotmastery.http.retries</c>. Calls that are not idempotent are sent once whatever these say.
/// </summary>
public sealed record IoTRetryOptions
{
    /// <summary>Retries after the first attempt, 0 to 10 (0 sends once). Default 3.</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>
    /// The first backoff delay, doubled per retry with jitter. A Retry-After from the service wins when it is no longer than
    /// <see cref="MaxDelay"/>; a longer one ends the call with the service's typed, transient error. Default 200 ms.
    /// </summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The largest backoff delay, at least <see cref="BaseDelay"/>. Default 20 s.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> naming the bound that breaks its rule.</summary>
    internal void Validate() => HttpRetryBounds.Validate(MaxRetries, BaseDelay, MaxDelay);

    internal HttpRetryBounds ToBounds() => new(MaxRetries, BaseDelay, MaxDelay);
}
