using System.Diagnostics;
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
/// on <see cref="IoTDiagnostics.HttpRetries"/>; each attempt is one client span on <see cref="IoTDiagnostics.ActivitySourceName"/>
/// (see <see cref="ExecuteAsync"/>). What is retryable stays the provider's call, decided per request, so
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
internal sealed partial class HttpRetryPipeline
{
    private static readonly ResiliencePropertyKey<long> StartedAt = new("IoTMastery.Sdk.Http.StartedAt");
    private static readonly ResiliencePropertyKey<int> Attempts = new("IoTMastery.Sdk.Http.Attempts");

    /// <summary>The operation name of the per-attempt spans; their display name is the HTTP method, as OpenTelemetry names HTTP client spans.</summary>
    internal const string AttemptOperation = "iotmastery.http.attempt";

    private static readonly Counter<long> Retries = SdkMeter.Meter.CreateCounter<long>(
        IoTDiagnostics.HttpRetries, "{attempt}", "HTTP requests sent again after a transient failure (attempts after the first).");

    private readonly ResiliencePipeline _pipeline;
    private readonly KeyValuePair<string, object?> _providerTag;
    private readonly string _provider;
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
        _provider = provider;
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
                    Log.Retrying(_logger, provider, args.AttemptNumber + 1, args.RetryDelay, (args.Outcome.Exception as RetryableFailure)?.Error.ErrorCode);
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
            Log.RetryAfterTooLong(_logger, provider, after, limit, error.ErrorCode);
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds, throws an error <paramref name="shouldRetry"/> refuses or whose
    /// Retry-After is past the bounds, or the bounds run out; then the last <see cref="IoTException"/> is thrown as the
    /// attempt threw it.
    /// </summary>
    /// <remarks>
    /// Each attempt is a client span named for the method, with the OpenTelemetry HTTP attributes <c>http.request.method</c>,
    /// <c>server.address</c>, <c>server.port</c>, <c>http.request.resend_count</c> (from the second attempt on) and
    /// <c>http.response.status_code</c> (from <see cref="RecordResponseStatus"/>, or the error's
    /// <see cref="IoTException.HttpStatus"/>), plus <c>iotmastery.provider</c>; a failed attempt has status Error and
    /// <c>error.type</c>. No URL is recorded: paths carry device ids at best and queries page tokens, and neither says more
    /// than the parent operation's span already does.
    /// </remarks>
    /// <param name="attempt">One request; throws <see cref="IoTException"/> for every failure it maps.</param>
    /// <param name="state">Passed to <paramref name="attempt"/>, so callers need no closure.</param>
    /// <param name="shouldRetry">The provider's classification of this request's failure: transient, and safe to replay.</param>
    /// <param name="method">The request's HTTP method, for the attempt spans.</param>
    /// <param name="server">The service endpoint the request goes to; only its host and port are recorded.</param>
    /// <param name="cancellationToken">Cancels the call and any wait.</param>
    public async ValueTask<T> ExecuteAsync<T, TState>(Func<TState, CancellationToken, ValueTask<T>> attempt, TState state,
        Func<IoTException, bool> shouldRetry, HttpMethod method, Uri server, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(server);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        // When the call began, so a Retry-After is measured against the deadline that is left, not the whole of it.
        context.Properties.Set(StartedAt, _time.GetTimestamp());
        context.Properties.Set(Attempts, 0);
        try
        {
            return await _pipeline.ExecuteAsync(static async (ctx, s) =>
            {
                ctx.Properties.TryGetValue(Attempts, out var resends);
                ctx.Properties.Set(Attempts, resends + 1);
                // Inside this async lambda, so the span is current for this attempt's flow only.
                using var activity = s.self.StartAttempt(s.method, s.server, resends);
                try
                {
                    return await s.attempt(s.state, ctx.CancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (activity is not null && Fail(activity, ex))
                {
                    throw;
                }
                catch (IoTException ex) when (s.shouldRetry(ex))
                {
                    throw new RetryableFailure(ex);
                }
            }, context, (self: this, attempt, state, shouldRetry, method, server)).ConfigureAwait(false);
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

    /// <summary>
    /// Records the status of the answer on the current attempt span, when there is one (a provider's attempt calls this
    /// once it has the response, success or not). Does nothing outside an attempt, so it never tags someone else's span.
    /// </summary>
    internal static void RecordResponseStatus(System.Net.HttpStatusCode status)
    {
        if (Activity.Current is { } activity && activity.Source == SdkActivitySource.Source && activity.OperationName == AttemptOperation)
            activity.SetTag("http.response.status_code", (int)status);
    }

    private Activity? StartAttempt(HttpMethod method, Uri server, int resends)
    {
        var activity = SdkActivitySource.Source.StartActivity(AttemptOperation, ActivityKind.Client);
        if (activity is null) return null;
        activity.DisplayName = method.Method;
        activity.SetTag("http.request.method", method.Method);
        activity.SetTag("server.address", server.Host);
        activity.SetTag("server.port", server.Port);
        activity.SetTag(SdkActivitySource.ProviderTag, _provider);
        if (resends > 0) activity.SetTag("http.request.resend_count", resends);
        return activity;
    }

    // An exception filter, so the span is marked before the exception unwinds, and the catch clauses below still run.
    private static bool Fail(Activity activity, Exception exception)
    {
        if (exception is IoTException { HttpStatus: { } status } && activity.GetTagItem("http.response.status_code") is null)
            activity.SetTag("http.response.status_code", status);
        SdkActivitySource.RecordFailure(activity, exception);
        return false;
    }

    /// <summary>Carries a retryable failure through Polly; the provider's exception is thrown when retries run out.</summary>
    private sealed class RetryableFailure(IoTException error) : Exception(error.Message, error)
    {
        public IoTException Error { get; } = error;
    }
}
