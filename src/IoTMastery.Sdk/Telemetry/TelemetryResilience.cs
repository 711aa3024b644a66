using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace IoTMastery.Sdk;

/// <summary>
/// Builds the per-batch Polly pipeline once: total time budget ▸ retry (full-jitter exponential
/// backoff, Retry-After honoured) ▸ circuit breaker ▸ per-attempt timeout.
/// </summary>
internal static class TelemetryResilience
{
    /// <summary>
    /// Set on an execution's context to be called before each of its retries (after the failed attempt, before the
    /// backoff): the pipeline's sender uses it to hold a batch's retry until every batch sent before it is resolved.
    /// </summary>
    public static readonly ResiliencePropertyKey<Func<ValueTask>> BeforeRetry = new("IoTMastery.Telemetry.BeforeRetry");

    // metricTags: the pipeline's measurement tags (its provider), put on the retries counter.
    public static ResiliencePipeline Build(TelemetryPipelineOptions options, ITelemetryTransport transport, TimeProvider time, Func<double> jitter,
        KeyValuePair<string, object?>[] metricTags)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = time, Name = "IoTMastery.Sdk.Telemetry" };
        builder.AddTimeout(options.BatchDeliveryTimeout);
        if (options.MaxAttempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && IsTransient(ex, transport, args.Context.CancellationToken)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(RetryDelay(args.AttemptNumber, args.Outcome.Exception, options, jitter)),
                OnRetry = args =>
                {
                    TelemetryMetrics.Retries.Add(1, metricTags);
                    return args.Context.Properties.TryGetValue(BeforeRetry, out var beforeRetry) ? beforeRetry() : default;
                },
            });
        }
        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            FailureRatio = options.CircuitBreakerFailureRatio,
            MinimumThroughput = options.CircuitBreakerMinimumThroughput,
            SamplingDuration = options.CircuitBreakerSamplingDuration,
            BreakDuration = options.CircuitBreakerBreakDuration,
            // Only outages open the circuit; a permanently bad batch says nothing about the connection.
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && IsTransient(ex, transport, args.Context.CancellationToken)),
        });
        builder.AddTimeout(options.AttemptTimeout);
        return builder.Build();
    }

    /// <summary>Whether a failed attempt may succeed if repeated: the transport decides, except for our own timeouts and open circuits.</summary>
    public static bool IsTransient(Exception exception, ITelemetryTransport transport, CancellationToken cancellationToken) => exception switch
    {
        BrokenCircuitException or TimeoutRejectedException => true,
        OperationCanceledException when cancellationToken.IsCancellationRequested => false,
        _ => transport.IsTransient(exception),
    };

    /// <summary>The wait before retry number <paramref name="attempt"/> (0-based): the service's Retry-After, else full jitter.</summary>
    public static TimeSpan RetryDelay(int attempt, Exception? exception, TelemetryPipelineOptions options, Func<double> jitter)
    {
        if (exception is IoTException { RetryAfter: { } retryAfter }) return retryAfter < TimeSpan.Zero ? TimeSpan.Zero : retryAfter;
        if (exception is BrokenCircuitException { RetryAfter: { } breakLeft }) return breakLeft;
        return FullJitter(attempt, options.RetryBaseDelay, options.RetryMaxDelay, jitter());
    }

    /// <summary>Full jitter (AWS architecture blog): uniform in [0, min(max, base·2^attempt)).</summary>
    public static TimeSpan FullJitter(int attempt, TimeSpan baseDelay, TimeSpan maxDelay, double sample)
    {
        double ceiling = Math.Min(maxDelay.Ticks, baseDelay.Ticks * Math.Pow(2, Math.Clamp(attempt, 0, 62)));
        return TimeSpan.FromTicks((long)(ceiling * Math.Clamp(sample, 0, 1)));
    }
}
