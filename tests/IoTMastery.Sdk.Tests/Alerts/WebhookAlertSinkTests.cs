using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using IoTMastery.Sdk.CloudDoubles.CloudIot;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Alerts;

/// <summary>The webhook sink against a real HTTP server on 127.0.0.1 (System.Net.HttpListener), never a fake handler.</summary>
public sealed class WebhookAlertSinkTests
{
    private const string Token = "wh-T0ken-never-logged";
    private const string PathSecret = "hooks/p4th-s3cret";
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new(Start);
    private readonly CapturingLoggerFactory _logs = new();
    private readonly ConcurrentQueue<WebhookDeadLetter> _deadLetters = new();

    private static Alert Silence(string device) =>
        new() { Rule = AlertRule.Silence(TimeSpan.FromSeconds(30)), DeviceId = device, Timestamp = Start, Duration = TimeSpan.FromSeconds(31) };

    private WebhookAlertSink Sink(Uri url, int maxRetries = 3, TimeSpan? baseDelay = null, int queue = 100, TimeSpan? maxDelay = null, TimeSpan? attemptTimeout = null)
    {
        var sink = new WebhookAlertSink(new WebhookAlertSinkOptions
        {
            Url = url,
            Authorization = new AuthenticationHeaderValue("Bearer", Token),
            MaxRetries = maxRetries,
            BaseDelay = baseDelay ?? TimeSpan.Zero,
            MaxDelay = maxDelay ?? TimeSpan.FromMinutes(1),
            AttemptTimeout = attemptTimeout,
            QueueCapacity = queue,
        }, timeProvider: _time, logger: _logs.CreateLogger("webhook"));
        sink.DeadLettered += (_, d) => _deadLetters.Enqueue(d);
        return sink;
    }

    private static Uri Hook(LoopbackHttpServer server) => new(server.BaseUrl, PathSecret);

    private static async Task CompleteAsync(WebhookAlertSink sink)
    {
        using var bound = new CancellationTokenSource(Bound);
        await sink.CompleteAsync(bound.Token);
    }

    private void AssertNoSecretLogged()
    {
        Assert.NotEmpty(_logs.Lines);
        Assert.DoesNotContain(_logs.Lines, l => l.Contains(Token, StringComparison.Ordinal) || l.Contains("s3cret", StringComparison.Ordinal));
        // A dead letter's error goes wherever the handler sends it: it carries neither the header nor the URL's path either.
        Assert.All(_deadLetters, d => Assert.False(d.Error.ToString().Contains(Token, StringComparison.Ordinal) || d.Error.ToString().Contains("s3cret", StringComparison.Ordinal)));
    }

    /// <summary>The dead letter's error as the fields a handler branches on.</summary>
    private static (IoTErrorKind Kind, string? Code, bool Transient, int? Status, string Provider) Why(WebhookDeadLetter d) =>
        (d.Error.Kind, d.Error.ErrorCode, d.Error.IsTransient, d.Error.HttpStatus, d.Error.Provider);

    [Fact]
    public async Task A_receiver_failing_the_first_two_posts_gets_the_alert_on_the_third_with_one_idempotency_key()
    {
        var calls = 0;
        await using var server = new LoopbackHttpServer(_ => Interlocked.Increment(ref calls) switch
        {
            1 => new CannedResponse(503),
            2 => new CannedResponse(500),
            _ => new CannedResponse(204, ""),
        });
        var sink = Sink(Hook(server));
        var alert = Silence("pump-7");
        Assert.True(sink.Enqueue(alert));
        await CompleteAsync(sink);
        await sink.DisposeAsync();

        var requests = server.Requests.ToArray();
        Assert.Equal(3, requests.Length);
        Assert.All(requests, r =>
        {
            Assert.Equal(("POST", "/" + PathSecret), (r.Method, r.Path));
            Assert.Equal(alert.Id.ToString("D"), r.Headers["idempotency-key"]);
            Assert.Equal("Bearer " + Token, r.Headers["authorization"]);
            Assert.StartsWith("application/json", r.Headers["content-type"], StringComparison.Ordinal);
        });
        using var body = JsonDocument.Parse(requests[2].Body);
        var root = body.RootElement;
        Assert.Equal((alert.Id.ToString("D"), "raised", "silence", "pump-7", 31.0, "2026-01-01T00:00:00.0000000Z"),
            (root.GetProperty("id").GetString(), root.GetProperty("kind").GetString(), root.GetProperty("rule").GetString(),
             root.GetProperty("deviceId").GetString(), root.GetProperty("durationSeconds").GetDouble(), root.GetProperty("timestamp").GetString()));
        Assert.False(root.TryGetProperty("metric", out _));
        Assert.Equal((1, 0), (sink.DeliveredCount, sink.DeadLetterCount));
        AssertNoSecretLogged();
    }

    [Fact]
    public async Task A_receiver_that_always_fails_dead_letters_each_alert_after_the_retries()
    {
        await using var server = new LoopbackHttpServer(_ => new CannedResponse(500));
        var sink = Sink(Hook(server), maxRetries: 2);
        var first = Silence("d1");
        var second = new Alert { Rule = AlertRule.Ewma("temp", 0.1, 4, 2, 10), DeviceId = "d2", Metric = "temp", Value = 41.5, Score = 6.2, Timestamp = Start };
        Assert.NotEqual(first.Id, second.Id); // each alert gets its own idempotency key unless the caller sets one
        sink.Enqueue(first);
        sink.Enqueue(second);
        await CompleteAsync(sink);
        await sink.DisposeAsync();

        Assert.Equal(6, server.Requests.Count); // 1 + 2 retries each
        Assert.Equal((0, 2), (sink.DeliveredCount, sink.DeadLetterCount));
        var retriesExhausted = (IoTErrorKind.Unknown, (string?)"RetriesExhausted", true, (int?)500, "Webhook");
        Assert.Equal([(first.Id, retriesExhausted, 3), (second.Id, retriesExhausted, 3)], _deadLetters.Select(d => (d.Alert.Id, Why(d), d.Attempts)));
        Assert.Equal("Alert dead-lettered: retries exhausted after 3 attempts (last status 500).", _deadLetters.First().Error.Message);
        Assert.Equal(3, server.Requests.Count(r => r.Headers["idempotency-key"] == second.Id.ToString("D")));
        using var body = JsonDocument.Parse(server.Requests.Last().Body);
        Assert.Equal(("anomaly", "temp", 41.5, 6.2), (body.RootElement.GetProperty("rule").GetString(), body.RootElement.GetProperty("metric").GetString(),
            body.RootElement.GetProperty("value").GetDouble(), body.RootElement.GetProperty("score").GetDouble()));
        AssertNoSecretLogged();
    }

    [Theory]
    [InlineData(400, IoTErrorKind.Unknown)]
    [InlineData(401, IoTErrorKind.Authentication)]
    [InlineData(403, IoTErrorKind.Authorization)]
    [InlineData(404, IoTErrorKind.NotFound)]
    [InlineData(413, IoTErrorKind.PayloadTooLarge)]
    [InlineData(422, IoTErrorKind.Unknown)]
    public async Task A_client_error_other_than_408_or_429_is_not_retried_and_dead_lettered_as_what_the_status_means(int status, IoTErrorKind kind)
    {
        await using var server = new LoopbackHttpServer(_ => new CannedResponse(status));
        var sink = Sink(Hook(server), maxRetries: 5);
        sink.Enqueue(Silence("d1"));
        await CompleteAsync(sink);
        await sink.DisposeAsync();

        Assert.Single(server.Requests);
        var dead = Assert.Single(_deadLetters);
        Assert.Equal(((kind, (string?)"Rejected", false, (int?)status, "Webhook"), 1), (Why(dead), dead.Attempts));
        Assert.Contains($"rejected it with status {status} after 1 attempt", dead.Error.Message, StringComparison.Ordinal);
        AssertNoSecretLogged();
    }

    [Theory]
    [InlineData(408)]
    [InlineData(429)]
    [InlineData(502)]
    public async Task Request_timeout_throttling_and_5xx_are_retried(int status)
    {
        var calls = 0;
        await using var server = new LoopbackHttpServer(_ => Interlocked.Increment(ref calls) == 1 ? new CannedResponse(status) : new CannedResponse(200));
        var sink = Sink(Hook(server));
        sink.Enqueue(Silence("d1"));
        await CompleteAsync(sink);
        await sink.DisposeAsync();
        Assert.Equal((2, 1L, 0L), (server.Requests.Count, sink.DeliveredCount, sink.DeadLetterCount));
    }

    [Fact]
    public async Task A_receiver_throttling_every_post_dead_letters_the_alert_as_throttled()
    {
        await using var server = new LoopbackHttpServer(_ => new CannedResponse(429, "{}", new Dictionary<string, string> { ["Retry-After"] = "0" }));
        var sink = Sink(Hook(server), maxRetries: 1);
        sink.Enqueue(Silence("d1"));
        await CompleteAsync(sink);
        await sink.DisposeAsync();

        var dead = Assert.Single(_deadLetters);
        Assert.Equal(((IoTErrorKind.Throttled, (string?)"RetriesExhausted", true, (int?)429, "Webhook"), 2), (Why(dead), dead.Attempts));
        Assert.Equal("Alert dead-lettered: retries exhausted after 2 attempts (last status 429).", dead.Error.Message);
        AssertNoSecretLogged();
    }

    [Fact]
    public async Task A_refused_connection_is_retried_then_dead_lettered()
    {
        var sink = Sink(new Uri($"http://127.0.0.1:{ClosedPort()}/{PathSecret}"), maxRetries: 1);
        sink.Enqueue(Silence("d1"));
        await CompleteAsync(sink);
        await sink.DisposeAsync();

        var dead = Assert.Single(_deadLetters);
        Assert.Equal(((IoTErrorKind.Unknown, (string?)"RetriesExhausted", true, (int?)null, "Webhook"), 2), (Why(dead), dead.Attempts));
        Assert.IsType<HttpRequestException>(dead.Error.InnerException);
        Assert.Contains("retries exhausted after 2 attempts (last error HttpRequestException)", dead.Error.Message, StringComparison.Ordinal);
        AssertNoSecretLogged();
    }

    [Fact]
    public async Task Retry_after_from_a_429_is_waited_on_the_sink_clock_before_the_next_post()
    {
        var arrivals = new ConcurrentQueue<DateTimeOffset>();
        await using var server = new LoopbackHttpServer(_ =>
        {
            arrivals.Enqueue(_time.GetUtcNow());
            return arrivals.Count == 1 ? new CannedResponse(429, "{}", new Dictionary<string, string> { ["Retry-After"] = "30" }) : new CannedResponse(200);
        });
        // No backoff of its own (BaseDelay zero): only the receiver's 30 s can hold the second POST back.
        var sink = Sink(Hook(server), baseDelay: TimeSpan.Zero, maxDelay: TimeSpan.FromHours(1));
        sink.Enqueue(Silence("d1"));
        var completion = CompleteAsync(sink);
        // The sender waits on the fake clock; move it in 5 s steps until the retry arrives (bounded in real time).
        var deadline = DateTime.UtcNow + Bound;
        while (!completion.IsCompleted && DateTime.UtcNow < deadline)
        {
            if (!arrivals.IsEmpty) _time.Advance(TimeSpan.FromSeconds(5));
            await Task.WhenAny(completion, Task.Delay(20));
        }
        await completion;
        await sink.DisposeAsync();

        var times = arrivals.ToArray();
        Assert.Equal(2, times.Length);
        // At least 30 s; more when the test moved the clock between the answer and the sender starting its wait.
        Assert.True(times[1] - times[0] >= TimeSpan.FromSeconds(30), $"{times[1] - times[0]}");
        Assert.Equal(1, sink.DeliveredCount);
    }

    [Fact]
    public async Task A_retry_after_longer_than_max_delay_dead_letters_instead_of_waiting()
    {
        await using var server = new LoopbackHttpServer(_ => new CannedResponse(503, "{}", new Dictionary<string, string> { ["Retry-After"] = "3600" }));
        var sink = Sink(Hook(server), maxDelay: TimeSpan.FromMinutes(1));
        sink.Enqueue(Silence("d1"));
        await CompleteAsync(sink);
        await sink.DisposeAsync();

        Assert.Single(server.Requests);
        var dead = Assert.Single(_deadLetters);
        Assert.Equal((IoTErrorKind.Unknown, (string?)"RetryAfterTooLong", true, (int?)503, "Webhook"), Why(dead));
        Assert.Equal(TimeSpan.FromHours(1), dead.Error.RetryAfter);
        Assert.Contains("asking to wait 3600 s, longer than MaxDelay (60 s)", dead.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_slow_receiver_fills_the_queue_and_the_overflow_is_dead_lettered_without_blocking_evaluation()
    {
        using var gate = new ManualResetEventSlim();
        await using var server = new LoopbackHttpServer(_ =>
        {
            // The receiver hangs until the test lets it go (bounded, so a failed test cannot hang the run).
            gate.Wait(Bound);
            return new CannedResponse(200);
        });
        var sink = Sink(Hook(server), queue: 3);
        var monitor = new AlertMonitor([AlertRule.Silence(TimeSpan.FromSeconds(30), cooldown: TimeSpan.Zero)], _time);
        for (var i = 0; i < 50; i++) monitor.Expect($"dev-{i:00}");
        _time.Advance(TimeSpan.FromSeconds(31));

        // The evaluator's thread hands every alert to the sink and returns while the receiver is stuck.
        var accepted = monitor.Evaluate().Count(sink.Enqueue);
        Assert.False(gate.IsSet);
        Assert.InRange(accepted, 3, 4); // the queue, plus the one the sender may already have taken
        Assert.Equal(50 - accepted, sink.DeadLetterCount);
        Assert.All(_deadLetters, d => Assert.Equal(((IoTErrorKind.QueueFull, (string?)"QueueFull", true, (int?)null, "Webhook"), 0), (Why(d), d.Attempts)));
        Assert.Contains("queue was full (3 alerts)", _deadLetters.First().Error.Message, StringComparison.Ordinal);

        gate.Set();
        await CompleteAsync(sink);
        await sink.DisposeAsync();
        Assert.Equal(accepted, sink.DeliveredCount);
        Assert.Equal(accepted, server.Requests.Select(r => r.Headers["idempotency-key"]).Distinct().Count());
    }

    [Fact]
    public async Task Disposing_abandons_the_alert_in_flight_and_the_queued_ones_and_later_alerts_are_refused()
    {
        using var gate = new ManualResetEventSlim();
        await using var server = new LoopbackHttpServer(_ =>
        {
            gate.Wait(Bound);
            return new CannedResponse(200);
        });
        var sink = Sink(Hook(server), attemptTimeout: TimeSpan.FromHours(1));
        sink.Enqueue(Silence("d1"));
        sink.Enqueue(Silence("d2"));
        await sink.DisposeAsync();
        gate.Set();

        Assert.Equal(2, sink.DeadLetterCount);
        Assert.All(_deadLetters, d => Assert.Equal((IoTErrorKind.Unknown, (string?)"Abandoned", true, (int?)null, "Webhook"), Why(d)));
        Assert.False(sink.Enqueue(Silence("d3")));
        Assert.Equal("Abandoned", _deadLetters.Last().Error.ErrorCode);
        Assert.Contains("sink was closed before it was delivered", _deadLetters.Last().Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_options_are_refused_before_any_request_naming_the_option()
    {
        static WebhookAlertSinkOptions Valid() => new() { Url = new Uri("http://127.0.0.1:9/hook") };
        Assert.Contains("Url", Assert.Throws<ArgumentException>(() => new WebhookAlertSink(new WebhookAlertSinkOptions { Url = new Uri("/relative", UriKind.Relative) })).Message);
        Assert.Contains("Url", Assert.Throws<ArgumentException>(() => new WebhookAlertSink(new WebhookAlertSinkOptions { Url = new Uri("ftp://example.com/x") })).Message);
        Assert.Contains("MaxRetries", Assert.Throws<ArgumentOutOfRangeException>(() => new WebhookAlertSink(new WebhookAlertSinkOptions { Url = Valid().Url, MaxRetries = -1 })).Message);
        Assert.Contains("QueueCapacity", Assert.Throws<ArgumentOutOfRangeException>(() => new WebhookAlertSink(new WebhookAlertSinkOptions { Url = Valid().Url, QueueCapacity = 0 })).Message);
        Assert.Contains("MaxDelay", Assert.Throws<ArgumentOutOfRangeException>(() => new WebhookAlertSink(new WebhookAlertSinkOptions { Url = Valid().Url, BaseDelay = TimeSpan.FromMinutes(2), MaxDelay = TimeSpan.FromMinutes(1) })).Message);
        Assert.Contains("AttemptTimeout", Assert.Throws<ArgumentOutOfRangeException>(() => new WebhookAlertSink(new WebhookAlertSinkOptions { Url = Valid().Url, AttemptTimeout = TimeSpan.Zero })).Message);
        Assert.Contains("IdempotencyKeyHeader", Assert.Throws<ArgumentException>(() => new WebhookAlertSink(new WebhookAlertSinkOptions { Url = Valid().Url, IdempotencyKeyHeader = "Bad: header" })).Message);
    }

    private static int ClosedPort()
    {
        // Bound and released: nothing listens there for the few seconds of the test.
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
