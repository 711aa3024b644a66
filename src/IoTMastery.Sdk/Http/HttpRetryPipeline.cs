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
/// <remarks>
/// A Retry-After is honoured only while it fits the caller's bounds: no longer than <see cref="HttpRetryBounds.MaxDelay"/>
/// (the longest wait the caller agreed to between attempts) and, with a <see cref="HttpRetryBounds.Deadline"/>, no longer
/// than the time the call has left. A longer one is not waited out, nor shortened (retrying before the service asked would
/// only be throttled again): the call fails at once with the service's own <see cref="IoTException"/>, still transient and
/// with its <see cref="IoTException.RetryAfter"/>, so the caller decides whether to come back that much later. Without this
/// cap, <c>Retry-After: 86400</c> from a server, a proxy or a bug would hold one call for a day.
/// </remarks>
internal sealed class HttpRetryPipeline
{
    private static readonly ResiliencePropertyKey<long> StartedAt = new("IoTMastery.Sdk.Http.StartedAt");

    private static readonly Counter<long> Retries = SdkMeter.Meter.CreateCounter<long>(
        SdkMetricNames.HttpRetries, "{attempt}", "HTTP requests sent again after a transient failure (attempts after the first).");

    private readonly ResiliencePipeline _pipeline;
    private readonly KeyValuePair<string, object?> _providerTag;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

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
        _time = time;
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
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is RetryableFailure failure && Waitable(failure.Error, args.Context)),
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

        // False when the service's Retry-After is past the bounds (see remarks): the failure then ends the call unretried.
        bool Waitable(IoTException error, ResilienceContext context)
        {
            if (error.RetryAfter is not { } after) return true;
            var limit = bounds.MaxDelay;
            if (bounds.Deadline is { } total && context.Properties.TryGetValue(StartedAt, out var started))
                limit = TimeSpan.FromTicks(Math.Min(limit.Ticks, (total - _time.GetElapsedTime(started)).Ticks));
            if (after <= limit) return true;
            _logger.LogDebug("{Provider} HTTP retry not attempted: Retry-After {RetryAfter} exceeds {Limit} ({ErrorCode}).", provider, after, limit, error.ErrorCode);
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds, throws an error <paramref name="shouldRetry"/> refuses or whose
    /// Retry-After is past the bounds, or the bounds run out; then the last <see cref="IoTException"/> is thrown as the
    /// attempt threw it.
    /// </summary>
    /// <param name="attempt">One request; throws <see cref="IoTException"/> for every failure it maps.</param>
    /// <param name="state">Passed to <paramref name="attempt"/>, so callers need no closure.</param>
    /// <param name="shouldRetry">The provider's classification of this request's failure: transient, and safe to replay.</param>
    /// <param name="cancellationToken">Cancels the call and any wait.</param>
    public async ValueTask<T> ExecuteAsync<T, TState>(Func<TState, CancellationToken, ValueTask<T>> attempt, TState state,
        Func<IoTException, bool> shouldRetry, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        // When the call began, so a Retry-After is measured against the deadline that is left, not the whole of it.
        context.Properties.Set(StartedAt, _time.GetTimestamp());
        try
        {
            return await _pipeline.ExecuteAsync(static async (ctx, s) =>
            {
                try
                {
                    return await s.attempt(s.state, ctx.CancellationToken).ConfigureAwait(false);
                }
                catch (IoTException ex) when (s.shouldRetry(ex))
                {
                    throw new RetryableFailure(ex);
                }
            }, context, (attempt, state, shouldRetry)).ConfigureAwait(false);
        }
        catch (RetryableFailure failure)
        {
            ExceptionDispatchInfo.Throw(failure.Error);
            throw;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Carries a retryable failure through Polly; the provider's exception is thrown when retries run out.</summary>
    private sealed class RetryableFailure(IoTException error) : Exception(error.Message, error)
    {
        public IoTException Error { get; } = error;
    }
}
