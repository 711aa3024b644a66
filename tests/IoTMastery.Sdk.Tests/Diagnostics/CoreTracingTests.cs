using System.Diagnostics;
using System.Net;
using IoTMastery.Sdk.Http;
using IoTMastery.Sdk.Tests.Telemetry;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Diagnostics;

/// <summary>
/// The spans of the shared core, seen through a real <see cref="ActivityListener"/>: one client span per HTTP attempt of
/// the retry every cloud provider uses, one producer span per telemetry batch, and errors that carry their request id.
/// </summary>
public sealed class CoreTracingTests
{
    private static readonly Uri Server = new("https://iot.example.test:8443/");

    [Fact]
    public async Task Each_http_attempt_is_one_client_span_and_failed_ones_say_why()
    {
        using var trace = new ActivityRecorder();
        var pipeline = new HttpRetryPipeline("test-trace", new HttpRetryBounds(3, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)), TimeProvider.System);
        var attempts = 0;

        var result = await pipeline.ExecuteAsync((_, _) =>
        {
            // What a provider's attempt does with the answer it got: 503 twice, then 200.
            if (++attempts < 3)
            {
                HttpRetryPipeline.RecordResponseStatus(HttpStatusCode.ServiceUnavailable);
                throw new IoTException(IoTErrorKind.Unknown, "unavailable", "test-trace", "ServiceUnavailable", isTransient: true) { HttpStatus = 503, RequestId = "req-" + attempts };
            }
            HttpRetryPipeline.RecordResponseStatus(HttpStatusCode.OK);
            return ValueTask.FromResult("ok");
        }, 0, static ex => ex.IsTransient, HttpMethod.Put, Server, default);

        Assert.Equal("ok", result);
        var spans = trace.Named("iotmastery.http.attempt");
        Assert.Equal(3, spans.Count);
        Assert.All(spans, span =>
        {
            Assert.Equal(ActivityKind.Client, span.Kind);
            Assert.Equal("PUT", span.DisplayName);
            Assert.Equal("PUT", span.Tag("http.request.method"));
            Assert.Equal("iot.example.test", span.Tag("server.address"));
            Assert.Equal(8443, span.Tag("server.port"));
            Assert.Equal("test-trace", span.Tag("iotmastery.provider"));
        });
        Assert.Equal([null, 1, 2], spans.Select(s => s.Tag("http.request.resend_count")));
        Assert.Equal([503, 503, 200], spans.Select(s => s.Tag("http.response.status_code")));
        Assert.Equal([ActivityStatusCode.Error, ActivityStatusCode.Error, ActivityStatusCode.Unset], spans.Select(s => s.Status));
        Assert.Equal(["Unknown", "Unknown", null], spans.Select(s => s.Tag("error.type")));
        Assert.Equal(["req-1", "req-2", null], spans.Select(s => s.Tag("iotmastery.request.id")));
    }

    [Fact]
    public async Task A_failure_that_is_not_retried_ends_its_only_attempt_span_in_error()
    {
        using var trace = new ActivityRecorder();
        var pipeline = new HttpRetryPipeline("test-trace", new HttpRetryBounds(3, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)), TimeProvider.System);

        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, async () => await pipeline.ExecuteAsync<int, int>(
            (_, _) => throw IoTException.DeviceNotFound("dev-9", "test-trace", "404001").WithResponse("req-404", 404),
            0, static ex => ex.IsTransient, HttpMethod.Get, Server, default));

        var span = Assert.Single(trace.Named("iotmastery.http.attempt"));
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Equal("DeviceNotFound", span.Tag("error.type"));
        Assert.Equal(404, span.Tag("http.response.status_code"));
        Assert.Equal("404001", span.Tag("iotmastery.error.code"));
    }

    [Fact]
    public async Task Each_telemetry_batch_is_one_root_producer_span_with_its_records_and_bytes()
    {
        using var trace = new ActivityRecorder();
        var transport = new SpanCapturingTransport();
        var options = new TelemetryPipelineOptions { Linger = TimeSpan.Zero, MaxAttempts = 1 };
        await using (var pipeline = new TelemetryPipeline(transport, options))
        {
            for (var i = 0; i < 5; i++) pipeline.TryWrite(Records.Make(i));
            await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));
            transport.Failure = new IoTException(IoTErrorKind.Unknown, "refused", "Test", "Refused", isTransient: false);
            pipeline.TryWrite(Records.Make(9));
            await Assert.ThrowsAsync<IoTException>(() => pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        }

        var sends = transport.Sends;
        Assert.True(sends.Count >= 2);
        Assert.All(sends, send =>
        {
            var span = send.Span;
            Assert.NotNull(span);
            Assert.Equal("telemetry.send", span.OperationName);
            Assert.Equal(ActivityKind.Producer, span.Kind);
            Assert.Equal("send", span.Tag("messaging.operation.type"));
            Assert.Equal(send.Records, span.Tag("iotmastery.telemetry.records"));
            Assert.Equal(send.Bytes, span.Tag("messaging.message.body.size"));
            // A root: batches are not children of whatever span was current when the pipeline was built.
            Assert.Null(span.ParentId);
            Assert.NotEqual(Activity.Current!.TraceId, span.TraceId);
        });
        Assert.Equal(6, sends.Sum(s => s.Records));
        var failed = sends[^1].Span!;
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.Equal("Unknown", failed.Tag("error.type"));
        Assert.All(sends.SkipLast(1), send => Assert.Equal(ActivityStatusCode.Unset, send.Span!.Status));
    }

    [Fact]
    public void ToString_carries_the_request_id_and_status_and_escapes_a_forged_one()
    {
        var error = IoTException.Throttled("slow down", "Aws", "ThrottlingException").WithResponse("abc-123", 429);
        Assert.Equal("abc-123", error.RequestId);
        Assert.Equal(429, error.HttpStatus);
        Assert.StartsWith("IoTMastery.Sdk.IoTException: slow down (Throttled, provider Aws, error code ThrottlingException, HTTP 429, request id abc-123)", error.ToString());

        // A provider that re-types the service's error keeps what the answer said.
        var retyped = IoTException.DeviceNotFound("dev-1", "Gcp", "NOT_FOUND", new IoTException(IoTErrorKind.NotFound, "gone", "Gcp", "NOT_FOUND").WithResponse(null, 404));
        Assert.Equal(404, retyped.HttpStatus);
        Assert.Null(retyped.RequestId);

        var forged = new IoTException(IoTErrorKind.Unknown, "x", "Azure") { RequestId = "id\nERROR forged line" };
        Assert.Equal(@"id\nERROR forged line", forged.RequestId);
        Assert.DoesNotContain('\n', forged.ToString().Split(Environment.NewLine)[0]);
    }

    /// <summary>A transport in this process that keeps the span current during each send, as a provider's transport sees it.</summary>
    private sealed class SpanCapturingTransport : ITelemetryTransport
    {
        private readonly Lock _lock = new();
        private readonly List<(Activity? Span, int Records, int Bytes)> _sends = [];

        public TelemetryTransportLimits Limits { get; } = new();

        public Exception? Failure { get; set; }

        public IReadOnlyList<(Activity? Span, int Records, int Bytes)> Sends { get { lock (_lock) return [.. _sends]; } }

        public ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken)
        {
            lock (_lock) _sends.Add((Activity.Current, batch.RecordCount, batch.Payload.Length));
            return Failure is { } failure ? ValueTask.FromException(failure) : ValueTask.CompletedTask;
        }

        public bool IsTransient(Exception exception) => exception is IoTException { IsTransient: true };
    }
}
