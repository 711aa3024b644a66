namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// One RPC's retry policy in the shape of Google's grpc service configs: which canonical status codes are
/// retried, with exponential backoff, a bounded number of attempts and a total deadline.
/// </summary>
internal sealed record GoogleRetryPolicy(string Name, IReadOnlySet<string> RetryableCodes, TimeSpan InitialBackoff, double Multiplier, TimeSpan MaxBackoff, int MaxAttempts, TimeSpan Timeout)
{
    private static HashSet<string> Codes(params string[] codes) => new(codes, StringComparer.Ordinal);

    /// <summary>Creates, updates, binds, publishes without dedup: sent once (cloudiot config: no retry).</summary>
    public static GoogleRetryPolicy None { get; } = new("none", Codes(), TimeSpan.Zero, 1, TimeSpan.Zero, 1, TimeSpan.FromSeconds(120));

    /// <summary>Cloud IoT reads and deletes: UNAVAILABLE, DEADLINE_EXCEEDED; 0.1 s ×1.3 ≤ 60 s (cloudiot_grpc_service_config.json).</summary>
    public static GoogleRetryPolicy CloudIotRead { get; } = new("cloudiot-read", Codes("UNAVAILABLE", "DEADLINE_EXCEEDED"), TimeSpan.FromMilliseconds(100), 1.3, TimeSpan.FromSeconds(60), 5, TimeSpan.FromSeconds(120));

    /// <summary>ModifyCloudToDeviceConfig and SendCommandToDevice: also RESOURCE_EXHAUSTED; 1 s ×1.3 ≤ 60 s.</summary>
    public static GoogleRetryPolicy CloudIotDeviceMessage { get; } = new("cloudiot-device-message", Codes("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"), TimeSpan.FromSeconds(1), 1.3, TimeSpan.FromSeconds(60), 5, TimeSpan.FromSeconds(120));

    /// <summary>Pub/Sub Publish (pubsub_grpc_service_config.json): 7 codes, 5 attempts, 0.1 s ×4 ≤ 60 s.</summary>
    public static GoogleRetryPolicy PubSubPublish { get; } = new("pubsub-publish",
        Codes("ABORTED", "CANCELLED", "INTERNAL", "RESOURCE_EXHAUSTED", "UNKNOWN", "UNAVAILABLE", "DEADLINE_EXCEEDED"), TimeSpan.FromMilliseconds(100), 4, TimeSpan.FromSeconds(60), 5, TimeSpan.FromSeconds(60));

    /// <summary>Pub/Sub Pull: UNKNOWN, ABORTED, UNAVAILABLE, INTERNAL; 5 attempts, 0.1 s ×1.3.</summary>
    public static GoogleRetryPolicy PubSubPull { get; } = new("pubsub-pull", Codes("UNKNOWN", "ABORTED", "UNAVAILABLE", "INTERNAL"), TimeSpan.FromMilliseconds(100), 1.3, TimeSpan.FromSeconds(60), 5, TimeSpan.FromSeconds(60));

    /// <summary>Pub/Sub Acknowledge, ModifyAckDeadline and admin writes: UNAVAILABLE only.</summary>
    public static GoogleRetryPolicy PubSubUnavailableOnly { get; } = new("pubsub-unavailable", Codes("UNAVAILABLE"), TimeSpan.FromMilliseconds(100), 1.3, TimeSpan.FromSeconds(60), 5, TimeSpan.FromSeconds(60));

    /// <summary>Pub/Sub admin reads: UNKNOWN, ABORTED, UNAVAILABLE.</summary>
    public static GoogleRetryPolicy PubSubAdminRead { get; } = new("pubsub-admin-read", Codes("UNKNOWN", "ABORTED", "UNAVAILABLE"), TimeSpan.FromMilliseconds(100), 1.3, TimeSpan.FromSeconds(60), 5, TimeSpan.FromSeconds(60));

    /// <summary>Whether this RPC retries <paramref name="error"/>: its canonical code is one the service config lists.</summary>
    public bool IsRetryable(IoTException error) => error.ErrorCode is { } code && RetryableCodes.Contains(code);

    /// <summary>The backoff before retry <paramref name="attempt"/> (0-based), capped.</summary>
    public TimeSpan Backoff(int attempt)
    {
        var ms = InitialBackoff.TotalMilliseconds * Math.Pow(Multiplier, attempt);
        return TimeSpan.FromMilliseconds(Math.Min(ms, MaxBackoff.TotalMilliseconds));
    }
}
