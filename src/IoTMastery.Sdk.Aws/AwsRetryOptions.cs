namespace IoTMastery.Sdk.Aws;

/// <summary>Bounds for retrying idempotent calls.</summary>
public sealed record AwsRetryOptions
{
    /// <summary>Retries after the first attempt (AWS SDKs default to 2; 0 disables retries).</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>Base of the exponential backoff (full jitter).</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Cap for one backoff delay.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(20);

    internal void Validate()
    {
        if (MaxRetries is < 0 or > 10)
            throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, "MaxRetries must be between 0 and 10.");
        if (BaseDelay <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(BaseDelay), BaseDelay, "BaseDelay must be positive.");
        if (MaxDelay < BaseDelay)
            throw new ArgumentOutOfRangeException(nameof(MaxDelay), MaxDelay, "MaxDelay must be at least BaseDelay.");
    }
}
