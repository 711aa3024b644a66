using System.Diagnostics.Metrics;
using System.Runtime.ExceptionServices;
using IoTMastery.Sdk.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;

namespace IoTMastery.Sdk.Http;

/// <summary>
/// The one HTTP retry of the cloud providers (Polly.Core): bounded attempts, exponential backoff with jitter (or a
/// provider's fixed schedule), the service's Retry-After honoured, an optional total deadline, and every retry counted
/// on <see cref="SdkMetricNames.HttpRetries"/>. What is retryable stays the provider's call, decided per request, so
/// a request that may have reached the service is repeated only when the provider says replaying it is harmless.
/// Thread-safe.
/// </summary>
internal sealed class HttpRetryPipeline
{
    private static readonly Counter<long> Retries = SdkMeter.Meter.CreateCounter<long>(
        SdkMetricNames.HttpRetries, "{attempt}", "HTTP requests sent again after a transient failure (attempts after the first).");

    private readonly ResiliencePipeline _pipeline;
    private readonly KeyValuePair<string, object?> _providerTag;
    private readonly ILogger _logger;

    /// <param name="provider">The provider name, the <c>provider</c> tag of the counter.</param>
    /// <param name="bounds">Attempts, backoff and deadline.</param>
    /// <param name="time">The clock for backoff waits and the deadline.</param>
    /// <param name="logger">Receives one debug line per retry (error code and delay, never the request).</param>
    /// <param name="name">The Polly pipeline name, for Polly's own telemetry.</param>
    public HttpRetryPipeline(string provider, HttpRetryBounds bounds, TimeProvider time, ILogger? logger = null, string? name = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(provider);
        ArgumentNullException.ThrowIfNull(bounds);
        ArgumentNullException.ThrowIfNull(time);
        _providerTag = new("provider", provider);
        _logger = logger ?? NullLogger.Instance;
        var builder = new ResiliencePipelineBuilder { TimeProvider = time, Name = name ?? "IoTMastery.Sdk." + provider + ".Http" };
        if (bounds.Deadline is { } deadline) builder.AddTimeout(deadline);
        if (bounds.MaxRetries > 0)
        {
            var backoff = bounds.Backoff;
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = bounds.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = backoff is null,
                Delay = bounds.BaseDelay,
                MaxDelay = bounds.MaxDelay,
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is RetryableFailure),
                // The service's Retry-After wins; otherwise the fixed schedule, or null for Polly's jittered exponential delay.
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Exception is RetryableFailure { Error.RetryAfter: { } after } ? after : backoff?.Invoke(args.AttemptNumber)),
                OnRetry = args =>
                {
                    Retries.Add(1, _providerTag);
                    _logger.LogDebug("{Provider} HTTP retry {Attempt} after {Delay}: {ErrorCode}.", provider, args.AttemptNumber + 1, args.RetryDelay,
                        (args.Outcome.Exception as RetryableFailure)?.Error.ErrorCode);
                    return ValueTask.CompletedTask;
                },
            });
        }
        _pipeline = builder.Build();
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds, throws an error <paramref name="shouldRetry"/> refuses, or the
    /// bounds run out; then the last <see cref="IoTException"/> is thrown as the attempt threw it.
    /// </summary>
    /// <param name="attempt">One request; throws <see cref="IoTException"/> for every failure it maps.</param>
    /// <param name="state">Passed to <paramref name="attempt"/>, so callers need no closure.</param>
    /// <param name="shouldRetry">The provider's classification of this request's failure: transient, and safe to replay.</param>
    /// <param name="cancellationToken">Cancels the call and any wait.</param>
    public async ValueTask<T> ExecuteAsync<T, TState>(Func<TState, CancellationToken, ValueTask<T>> attempt, TState state,
        Func<IoTException, bool> shouldRetry, CancellationToken cancellationToken)
    {
        try
        {
            return await _pipeline.ExecuteAsync(static async (s, ct) =>
            {
                try
                {
                    return await s.attempt(s.state, ct).ConfigureAwait(false);
                }
                catch (IoTException ex) when (s.shouldRetry(ex))
                {
                    throw new RetryableFailure(ex);
                }
            }, (attempt, state, shouldRetry), cancellationToken).ConfigureAwait(false);
        }
        catch (RetryableFailure failure)
        {
            ExceptionDispatchInfo.Throw(failure.Error);
            throw;
        }
    }

    /// <summary>Carries a retryable failure through Polly; the provider's exception is thrown when retries run out.</summary>
    private sealed class RetryableFailure(IoTException error) : Exception(error.Message, error)
    {
        public IoTException Error { get; } = error;
    }
}
