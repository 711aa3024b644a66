using System.Net.Http.Headers;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace IoTMastery.Sdk;

/// <summary>
/// POSTs each alert as JSON (<see cref="Alert"/>) to a webhook, one at a time in arrival order, from a bounded
/// in-memory queue: <see cref="Enqueue(Alert)"/> never waits, so a slow or dead receiver never holds up rule
/// evaluation. Transient failures (network, attempt timeout, 408, 429, 5xx) are retried with exponential backoff and the
/// receiver's <c>Retry-After</c> (Polly.Core); every attempt of one alert carries the same idempotency key, so a receiver can
/// drop a repeat whose first answer was lost. An alert that cannot be delivered is counted in <see cref="DeadLetterCount"/>
/// and raised on <see cref="DeadLettered"/>. The URL and the authorization header are never logged. Thread-safe.
/// </summary>
public sealed partial class WebhookAlertSink : IAsyncDisposable
{
    private const string Provider = "Webhook";
    private readonly WebhookAlertSinkOptions _options;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<Alert> _queue;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _delivered;
    private long _deadLettered;
    private volatile bool _closed;

    /// <summary>Creates the sink and starts its sender.</summary>
    /// <param name="options">URL, retries and queue size; validated here.</param>
    /// <param name="httpClient">
    /// The client to send with (its handler decides proxies, TLS and connection pooling); not disposed by the sink. Null: the
    /// sink creates and owns one, with no client-wide timeout (<see cref="WebhookAlertSinkOptions.AttemptTimeout"/> bounds each attempt).
    /// </param>
    /// <param name="timeProvider">The clock for backoff, Retry-After dates and attempt timeouts; defaults to the system clock.</param>
    /// <param name="logger">Receives one warning per retry and one error per dead letter (alert id, rule, device, status; never the URL or a header).</param>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public WebhookAlertSink(WebhookAlertSinkOptions options, HttpClient? httpClient = null, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _ownsHttp = httpClient is null;
        _http = httpClient ?? new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _queue = Channel.CreateBounded<Alert>(new BoundedChannelOptions(options.QueueCapacity)
        {
            // Wait mode with TryWrite: a full queue refuses the alert, which is then dead-lettered instead of dropped silently.
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        _pipeline = BuildPipeline();
        _loop = Task.Run(RunAsync);
    }

    /// <summary>
    /// An alert the sink gave up on (queue full, retries exhausted, rejected, closed). Raised on the thread that enqueued (queue
    /// full) or the sender's; keep handlers short. A handler's exception is logged and otherwise ignored.
    /// </summary>
    public event EventHandler<WebhookDeadLetter>? DeadLettered;

    /// <summary>Alerts the receiver accepted with a 2xx.</summary>
    public long DeliveredCount => Interlocked.Read(ref _delivered);

    /// <summary>Alerts given up on, for any reason (<see cref="WebhookDeadLetter.Error"/>).</summary>
    public long DeadLetterCount => Interlocked.Read(ref _deadLettered);

    /// <summary>Alerts waiting in the queue (not counting the one being sent).</summary>
    public int QueuedCount => _queue.Reader.Count;

    /// <summary>Queues an alert for delivery; false (and dead-lettered) when the queue is full or the sink is closed. Never blocks.</summary>
    public bool Enqueue(Alert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        if (_queue.Writer.TryWrite(alert)) return true;
        DeadLetter(alert, _closed ? Abandoned(0) : QueueFull(), 0);
        return false;
    }

    /// <summary>
    /// Stops accepting alerts and returns once every queued one was delivered or dead-lettered. When
    /// <paramref name="cancellationToken"/> fires first, what is left is dead-lettered as abandoned (error code <c>Abandoned</c>)
    /// and <see cref="OperationCanceledException"/> is thrown.
    /// </summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        _closed = true;
        _queue.Writer.TryComplete();
        try
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _loop.ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops at once: the alert in flight and every queued one are dead-lettered as abandoned. Call <see cref="CompleteAsync"/> first to deliver them.</summary>
    public async ValueTask DisposeAsync()
    {
        _closed = true;
        _queue.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
        if (_ownsHttp) _http.Dispose();
    }

    private ResiliencePipeline<HttpResponseMessage> BuildPipeline()
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time, Name = "IoTMastery.Sdk.WebhookAlertSink" };
        if (_options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = _options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.BaseDelay,
                MaxDelay = _options.MaxDelay,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: HttpRequestException or TimeoutRejectedException } => true,
                    // An injected client's own Timeout surfaces as a cancellation the sink did not ask for.
                    { Exception: OperationCanceledException } => !args.Context.CancellationToken.IsCancellationRequested,
                    { Result: { } response } => RetryableStatus((int)response.StatusCode) && !(RetryAfter(response) > _options.MaxDelay),
                    _ => false,
                }),
                // The receiver's Retry-After wins; otherwise null, which is Polly's jittered exponential delay.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome is { Result: { } response } ? RetryAfter(response) : null),
                OnRetry = args =>
                {
                    Log.Retrying(_logger, args.AttemptNumber + 1, args.RetryDelay,
                        args.Outcome is { Result: { } r } ? "HTTP " + (int)r.StatusCode : args.Outcome.Exception?.GetType().Name);
                    return ValueTask.CompletedTask;
                },
            });
        }
        // Inside the retry, so each attempt gets its own limit and a timed-out attempt is retried.
        if (_options.AttemptTimeout is { } timeout) builder.AddTimeout(timeout);
        return builder.Build();
    }

    private static bool RetryableStatus(int status) => status is 408 or 429 or >= 500;

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is not { } header) return null;
        if (header.Delta is { } delta) return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        if (header.Date is { } date)
        {
            var wait = date - _time.GetUtcNow();
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }
        return null;
    }

    private async Task RunAsync()
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
                while (!_stop.IsCancellationRequested && _queue.Reader.TryRead(out var alert))
                    await DeliverAsync(alert).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed or a CompleteAsync gave up: the rest is abandoned below.
        }
        while (_queue.Reader.TryRead(out var left))
            DeadLetter(left, Abandoned(0), 0);
    }

    private async Task DeliverAsync(Alert alert)
    {
        var delivery = new Delivery(this, alert, alert.ToJson());
        var context = ResilienceContextPool.Shared.Get(_stop.Token);
        HttpResponseMessage? response = null;
        try
        {
            response = await _pipeline.ExecuteAsync(static (ctx, d) => d.SendAsync(ctx.CancellationToken), context, delivery).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref _delivered);
                return;
            }
            DeadLetter(alert, Failed(status, RetryAfter(response), delivery.Attempts), delivery.Attempts);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            DeadLetter(alert, Abandoned(delivery.Attempts), delivery.Attempts);
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException or OperationCanceledException)
        {
            DeadLetter(alert, new IoTException(IoTErrorKind.Unknown,
                $"Alert dead-lettered: retries exhausted after {Times(delivery.Attempts)} (last error {ex.GetType().Name}).",
                Provider, "RetriesExhausted", isTransient: true, innerException: ex), delivery.Attempts);
        }
        finally
        {
            response?.Dispose();
            ResilienceContextPool.Shared.Return(context);
        }
    }

    // The dead letters' errors. Each message names the case (the former reasons, also the ErrorCode) and only counts,
    // statuses, delays and exception type names: never the URL, a header, or the receiver's body.
    private IoTException QueueFull() =>
        new(IoTErrorKind.QueueFull, $"Alert dead-lettered: the webhook queue was full ({_options.QueueCapacity} alerts); the receiver is slower than the alerts.",
            Provider, "QueueFull", isTransient: true);

    // Transient: the alert itself is fine, and a caller may hand it to another sink. The SDK has no kind for its own shutdown.
    private static IoTException Abandoned(int attempts) =>
        new(IoTErrorKind.Unknown, $"Alert dead-lettered: the webhook sink was closed before it was delivered, after {Times(attempts)}.",
            Provider, "Abandoned", isTransient: true);

    private IoTException Failed(int status, TimeSpan? retryAfter, int attempts)
    {
        if (!RetryableStatus(status))
            return new IoTException(RejectedKind(status),
                $"Alert dead-lettered: the receiver rejected it with status {status} after {Times(attempts)}; resending would not help.",
                Provider, "Rejected") { HttpStatus = status };
        var (code, message) = retryAfter > _options.MaxDelay
            ? ("RetryAfterTooLong", $"Alert dead-lettered: the receiver answered {status} asking to wait {retryAfter.Value.TotalSeconds:0.###} s, longer than MaxDelay ({_options.MaxDelay.TotalSeconds:0.###} s), after {Times(attempts)}.")
            : ("RetriesExhausted", $"Alert dead-lettered: retries exhausted after {Times(attempts)} (last status {status}).");
        return status == 429
            ? IoTException.Throttled(message, Provider, code, retryAfter).WithResponse(null, status)
            : new IoTException(IoTErrorKind.Unknown, message, Provider, code, isTransient: true, retryAfter) { HttpStatus = status };
    }

    // What a status the sink does not retry means, in the kinds the providers give the same statuses.
    private static IoTErrorKind RejectedKind(int status) => status switch
    {
        401 => IoTErrorKind.Authentication,
        403 => IoTErrorKind.Authorization,
        404 or 410 => IoTErrorKind.NotFound,
        409 => IoTErrorKind.AlreadyExists,
        412 => IoTErrorKind.PreconditionFailed,
        413 => IoTErrorKind.PayloadTooLarge,
        _ => IoTErrorKind.Unknown,
    };

    private static string Times(int attempts) => attempts == 1 ? "1 attempt" : $"{attempts} attempts";

    private void DeadLetter(Alert alert, IoTException error, int attempts)
    {
        Interlocked.Increment(ref _deadLettered);
        Log.DeadLettered(_logger, alert.Id, alert.Rule.Name, ErrorText.Escape(alert.DeviceId), error.ErrorCode!,
            attempts, error.HttpStatus, error.InnerException?.GetType().Name);
        try
        {
            DeadLettered?.Invoke(this, new WebhookDeadLetter(alert, error, attempts));
        }
        catch (Exception ex)
        {
            // A subscriber's bug must not stop the sender nor the evaluator that enqueued.
            Log.HandlerThrew(_logger, ex);
        }
    }

    /// <summary>One alert's delivery: the body is encoded once, a request is built per attempt (a sent request cannot be resent).</summary>
    private sealed class Delivery(WebhookAlertSink sink, Alert alert, byte[] body)
    {
        public int Attempts;

        public async ValueTask<HttpResponseMessage> SendAsync(CancellationToken cancellationToken)
        {
            Attempts++;
            using var request = new HttpRequestMessage(HttpMethod.Post, sink._options.Url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            request.Headers.TryAddWithoutValidation(sink._options.IdempotencyKeyHeader, alert.Id.ToString("D"));
            if (sink._options.Authorization is { } authorization) request.Headers.Authorization = authorization;
            return await sink._http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
    }

    // Level policy (CONTRIBUTING.md): a retried delivery is a Warning, an alert given up for good (dead-lettered) an Error.
    // The URL and the authorization header are never arguments here; the device id comes from telemetry and is escaped.
    private static partial class Log
    {
        [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "Webhook alert retry {Attempt} in {Delay}: {Outcome}.")]
        public static partial void Retrying(ILogger logger, int attempt, TimeSpan delay, string? outcome);

        [LoggerMessage(EventId = 601, Level = LogLevel.Error, Message = "Webhook alert {AlertId} ({Rule}, device {DeviceId}) dead-lettered: {Reason} after {Attempts} attempt(s), last status {Status}, last error {Error}.")]
        public static partial void DeadLettered(ILogger logger, Guid alertId, string rule, string deviceId, string reason, int attempts, int? status, string? error);

        [LoggerMessage(EventId = 602, Level = LogLevel.Error, Message = "A WebhookAlertSink.DeadLettered handler threw.")]
        public static partial void HandlerThrew(ILogger logger, Exception exception);
    }
}
