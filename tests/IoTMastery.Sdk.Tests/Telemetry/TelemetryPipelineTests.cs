using IoTMastery.Sdk.TestSupport;
using System.Buffers;

namespace IoTMastery.Sdk.Tests.Telemetry;

public sealed class TelemetryPipelineTests
{
    private static readonly TimeSpan Forever = TimeSpan.FromHours(1);

    [Fact]
    public async Task Linger_sends_a_partial_batch_when_fake_time_reaches_it()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time);
        await using var pipeline = new TelemetryPipeline(transport, new() { Linger = TimeSpan.FromMilliseconds(50) }, time);

        for (int i = 0; i < 3; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));
        await time.WaitForTimerAsync(TimeSpan.FromMilliseconds(50));
        Assert.Empty(transport.Calls);

        time.Advance(TimeSpan.FromMilliseconds(50));
        await transport.WaitForCallsAsync(1);
        Assert.Equal(3, transport.Calls[0].RecordCount);
        Assert.Equal([0.0, 1, 2], transport.DecodeDelivered().Select(r => r.Value));
    }

    [Fact]
    public async Task Count_limit_cuts_batches_and_flush_sends_the_rest()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time);
        await using var pipeline = new TelemetryPipeline(transport, new() { MaxBatchRecords = 10, Linger = Forever }, time);

        for (int i = 0; i < 25; i++) pipeline.TryWrite(Records.Make(i));
        await transport.WaitForCallsAsync(2);
        Assert.All(transport.Calls, c => Assert.Equal(10, c.RecordCount));

        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([10, 10, 5], transport.Calls.Select(c => c.RecordCount));
        Assert.Equal(Enumerable.Range(0, 25).Select(i => (double)i), transport.DecodeDelivered().Select(r => r.Value));
    }

    [Fact]
    public async Task Transport_record_limit_caps_the_batch_too()
    {
        var transport = new RecordingTransport(new TelemetryTransportLimits { MaxRecordsPerMessage = 4 });
        await using var pipeline = new TelemetryPipeline(transport, new() { Linger = Forever }, new TestTime());
        for (int i = 0; i < 8; i++) pipeline.TryWrite(Records.Make(i));
        await transport.WaitForCallsAsync(2);
        Assert.All(transport.Calls, c => Assert.Equal(4, c.RecordCount));
    }

    [Fact]
    public async Task Byte_limit_keeps_every_message_within_it()
    {
        var transport = new RecordingTransport(new TelemetryTransportLimits { MaxMessageBytes = 300 });
        await using var pipeline = new TelemetryPipeline(transport, new() { Linger = Forever }, new TestTime());
        for (int i = 0; i < 50; i++) pipeline.TryWrite(Records.Make(i));
        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.All(transport.Calls, c => Assert.InRange(c.Payload.Length, 1, 300));
        Assert.True(transport.Calls.Count >= 9, $"{transport.Calls.Count} messages");
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (double)i), transport.DecodeDelivered().Select(r => r.Value));
    }

    [Theory]
    [InlineData(4096)] // Azure IoT Hub quota chunk
    [InlineData(5120)] // AWS IoT Core metering increment (5 KB)
    public async Task Batches_fill_whole_billing_units(int unit)
    {
        const int records = 20_000;
        var transport = new RecordingTransport(new TelemetryTransportLimits { MaxMessageBytes = 128 * 1024, BillingUnitBytes = unit });
        var options = new TelemetryPipelineOptions { Encoder = new FixedSizeEncoder(99), Linger = Forever, MaxBatchRecords = 512 };
        await using var pipeline = new TelemetryPipeline(transport, options, new TestTime());
        for (int i = 0; i < records; i++) await pipeline.WriteAsync(Records.Make(i));
        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));

        var calls = transport.Calls;
        Assert.Equal(records, calls.Sum(c => c.RecordCount));
        var full = calls.Take(calls.Count - 1).ToList(); // the flushed tail is whatever was left
        foreach (var call in full)
        {
            long units = (call.Payload.Length + unit - 1) / unit;
            Assert.True(call.Payload.Length >= 0.95 * units * unit, $"{call.Payload.Length} bytes fill {units} units of {unit} poorly");
        }
        long billed = calls.Sum(c => (long)((c.Payload.Length + unit - 1) / unit));
        Assert.True(billed * 40 <= records, $"{billed} units for {records} records; one record per message would bill {records}");
    }

    [Fact]
    public void Builder_cuts_a_count_limited_batch_at_the_last_whole_unit_and_carries_the_rest()
    {
        var builder = new TelemetryBatchBuilder(new FixedSizeEncoder(99), maxRecords: 512, maxBytes: 128 * 1024, billingUnitBytes: 4096, () => new OutgoingBatch(1024));
        OutgoingBatch? ready = null;
        for (int i = 0; i < 512 && ready is null; i++)
        {
            if (builder.Add(Records.Make(i)) == BatchAddResult.Ready) ready = builder.TakeReady();
        }
        Assert.NotNull(ready);
        // 512 × 100 bytes would be 12.5 units; the cut is 12 units, nearly full, and the rest stays open.
        Assert.InRange(ready!.Buffer.Length, 12 * 4096 - 100, 12 * 4096);
        Assert.Equal(512, ready.Count + builder.OpenCount);
        Assert.True(builder.OpenCount > 0);
        Assert.True(builder.Complete());
        var tail = builder.TakeReady()!;
        Assert.Equal((byte)'[', tail.Buffer.WrittenSpan[0]);
        Assert.Equal(builder.OpenCount == 0 ? tail.Count * 100 + 1 : -1, tail.Buffer.Length);
    }

    [Fact]
    public void Builder_counts_per_message_overhead_such_as_the_topic_in_billed_units()
    {
        var builder = new TelemetryBatchBuilder(new FixedSizeEncoder(99), 512, 128 * 1024, 5120, () => new OutgoingBatch(1024), billingOverheadBytes: 60);
        OutgoingBatch? ready = null;
        for (int i = 0; i < 512 && ready is null; i++)
        {
            if (builder.Add(Records.Make(i)) == BatchAddResult.Ready) ready = builder.TakeReady();
        }
        Assert.InRange(ready!.Buffer.Length + 60, 10 * 5120 - 100, 10 * 5120);
    }

    [Fact]
    public void Builder_refuses_a_record_larger_than_a_message()
    {
        var builder = new TelemetryBatchBuilder(new FixedSizeEncoder(500), 10, 256, 0, () => new OutgoingBatch(256));
        Assert.Equal(BatchAddResult.TooLarge, builder.Add(Records.Make(1)));
        Assert.Equal(0, builder.OpenCount);
    }

    [Fact]
    public async Task Token_bucket_paces_messages_to_the_transport_rate()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(new TelemetryTransportLimits { MaxMessagesPerSecond = 10 }, time);
        await using var pipeline = new TelemetryPipeline(transport, new() { MaxBatchRecords = 1, Linger = Forever }, time);

        for (int i = 0; i < 12; i++) pipeline.TryWrite(Records.Make(i));
        await transport.WaitForCallsAsync(10); // the one-second burst goes at once
        await time.WaitForTimerAsync(TimeSpan.FromMilliseconds(100));
        Assert.Equal(10, transport.Calls.Count);

        time.Advance(TimeSpan.FromMilliseconds(100));
        await transport.WaitForCallsAsync(11);
        await time.WaitForTimerAsync(TimeSpan.FromMilliseconds(100));
        time.Advance(TimeSpan.FromMilliseconds(100));
        await transport.WaitForCallsAsync(12);
        var start = transport.Calls[0].At;
        Assert.Equal(TimeSpan.FromMilliseconds(100), transport.Calls[10].At - start);
        Assert.Equal(TimeSpan.FromMilliseconds(200), transport.Calls[11].At - start);
    }

    [Fact]
    public void Token_bucket_refills_at_its_rate_and_reports_debt_as_wait()
    {
        var time = new TestTime();
        var bucket = new TokenBucket(ratePerSecond: 1000, burst: 2000, time); // bytes per second
        Assert.Equal(TimeSpan.Zero, bucket.Take(2000));
        Assert.Equal(TimeSpan.FromMilliseconds(500), bucket.Take(500));
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(TimeSpan.FromSeconds(1), bucket.Take(1000));
    }

    [Fact]
    public void Full_jitter_stays_within_the_exponential_ceiling()
    {
        var random = new Random(42);
        var baseDelay = TimeSpan.FromMilliseconds(100);
        var maxDelay = TimeSpan.FromSeconds(2);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            var ceiling = TimeSpan.FromTicks(Math.Min(maxDelay.Ticks, baseDelay.Ticks << attempt));
            for (int i = 0; i < 200; i++)
                Assert.InRange(TelemetryResilience.FullJitter(attempt, baseDelay, maxDelay, random.NextDouble()), TimeSpan.Zero, ceiling);
            Assert.Equal(ceiling, TelemetryResilience.FullJitter(attempt, baseDelay, maxDelay, 1.0));
        }
    }

    [Fact]
    public async Task Transient_failures_are_retried_with_exponential_backoff()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time)
        {
            Behavior = attempt => attempt <= 2 ? new IoTException(IoTErrorKind.Unknown, "unavailable", "Test", isTransient: true) : null,
        };
        var options = new TelemetryPipelineOptions { Linger = TimeSpan.Zero, RetryBaseDelay = TimeSpan.FromMilliseconds(100), JitterSource = () => 0.5 };
        await using var pipeline = new TelemetryPipeline(transport, options, time);

        pipeline.TryWrite(Records.Make(1));
        await transport.WaitForCallsAsync(1);
        await time.WaitForTimerAsync(TimeSpan.FromMilliseconds(50)); // 0.5 × 100 ms
        time.Advance(TimeSpan.FromMilliseconds(50));
        await transport.WaitForCallsAsync(2);
        await time.WaitForTimerAsync(TimeSpan.FromMilliseconds(100)); // 0.5 × 200 ms
        time.Advance(TimeSpan.FromMilliseconds(100));
        await transport.WaitForCallsAsync(3);

        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([false, false, true], transport.Calls.Select(c => c.Succeeded));
        Assert.Equal(0, pipeline.FailedRecords);
    }

    [Fact]
    public async Task Retry_after_from_the_service_sets_the_wait()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time)
        {
            Behavior = attempt => attempt == 1 ? IoTException.Throttled("slow down", "Test", "429", TimeSpan.FromSeconds(7)) : null,
        };
        await using var pipeline = new TelemetryPipeline(transport, new() { Linger = TimeSpan.Zero, JitterSource = () => 0 }, time);

        pipeline.TryWrite(Records.Make(1));
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(7));
        time.Advance(TimeSpan.FromSeconds(6.9));
        Assert.Single(transport.Calls);
        time.Advance(TimeSpan.FromSeconds(0.1));
        await transport.WaitForCallsAsync(2);
        Assert.Equal(TimeSpan.FromSeconds(7), transport.Calls[1].At - transport.Calls[0].At);
    }

    [Fact]
    public async Task Permanent_failure_is_not_retried_and_flush_reports_it()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time) { Behavior = _ => new IoTException(IoTErrorKind.Authorization, "not allowed", "Test") };
        await using var pipeline = new TelemetryPipeline(transport, new() { Linger = Forever }, time);

        for (int i = 0; i < 5; i++) pipeline.TryWrite(Records.Make(i));
        var error = await Assert.ThrowsAsync<IoTException>(() => pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        IoTAssert.Is(IoTErrorKind.Authorization, error.InnerException);
        Assert.Single(transport.Calls);
        Assert.Equal(5, pipeline.FailedRecords);
        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10)); // already reported once
    }

    [Fact]
    public async Task Exhausted_attempts_mark_the_batch_failed()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time) { Behavior = _ => new IoTException(IoTErrorKind.Unknown, "down", "Test", isTransient: true) };
        var options = new TelemetryPipelineOptions { Linger = TimeSpan.Zero, MaxAttempts = 3, JitterSource = () => 0, CircuitBreakerMinimumThroughput = 100 };
        await using var pipeline = new TelemetryPipeline(transport, options, time);

        pipeline.TryWrite(Records.Make(1));
        await Assert.ThrowsAsync<IoTException>(() => pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(3, transport.Calls.Count);
        Assert.Equal(1, pipeline.FailedRecords);
    }

    [Fact]
    public async Task Total_time_budget_ends_retries_of_a_batch()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time)
        {
            Behavior = _ => IoTException.Throttled("slow down", "Test", retryAfter: TimeSpan.FromSeconds(30)),
        };
        var options = new TelemetryPipelineOptions
        {
            Linger = TimeSpan.Zero, MaxAttempts = 100, AttemptTimeout = TimeSpan.FromSeconds(5), BatchDeliveryTimeout = TimeSpan.FromSeconds(45),
            CircuitBreakerMinimumThroughput = 1000,
        };
        await using var pipeline = new TelemetryPipeline(transport, options, time);

        pipeline.TryWrite(Records.Make(1));
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(30));
        time.Advance(TimeSpan.FromSeconds(30));
        await transport.WaitForCallsAsync(2);
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(30));
        time.Advance(TimeSpan.FromSeconds(15)); // the 45 s budget runs out during the second wait
        await Assert.ThrowsAsync<IoTException>(() => pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, transport.Calls.Count);
        Assert.Equal(1, pipeline.FailedRecords);
    }

    [Fact]
    public async Task Circuit_breaker_opens_then_lets_one_trial_through_after_the_break()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time)
        {
            Behavior = attempt => attempt <= 2 ? new IoTException(IoTErrorKind.Unknown, "down", "Test", isTransient: true) : null,
        };
        var options = new TelemetryPipelineOptions
        {
            Linger = TimeSpan.Zero, MaxAttempts = 10, JitterSource = () => 0,
            CircuitBreakerMinimumThroughput = 2, CircuitBreakerFailureRatio = 0.5, CircuitBreakerBreakDuration = TimeSpan.FromSeconds(1),
        };
        await using var pipeline = new TelemetryPipeline(transport, options, time);

        pipeline.TryWrite(Records.Make(1));
        await transport.WaitForCallsAsync(2);
        // Open: the next attempt is rejected without reaching the transport, and waits out the break.
        await time.WaitForTimerAsync(d => d > TimeSpan.FromMilliseconds(900) && d <= TimeSpan.FromSeconds(1));
        Assert.Equal(2, transport.Calls.Count);
        time.Advance(TimeSpan.FromSeconds(1));
        await transport.WaitForCallsAsync(3); // half-open trial succeeds and closes the circuit
        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(transport.Calls[2].Succeeded);
        Assert.Equal(TimeSpan.FromSeconds(1), transport.Calls[2].At - transport.Calls[1].At);
    }

    [Fact]
    public async Task Records_of_each_device_arrive_in_write_order()
    {
        var transport = new RecordingTransport();
        await using var pipeline = new TelemetryPipeline(transport, new() { MaxBatchRecords = 7, Linger = TimeSpan.Zero, Capacity = 64 }, new TestTime());
        const int perDevice = 2_000;
        var writers = Enumerable.Range(0, 4).Select(d => Task.Run(async () =>
        {
            for (int i = 0; i < perDevice; i++) await pipeline.WriteAsync(Records.Make(i, $"dev-{d}"));
        })).ToArray();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(10));
        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));

        var received = transport.DecodeDelivered();
        Assert.Equal(4 * perDevice, received.Count);
        foreach (var device in received.GroupBy(r => r.DeviceId))
            Assert.Equal(Enumerable.Range(0, perDevice).Select(i => (double)i), device.Select(r => r.Value));
    }

    [Fact]
    public async Task Drop_oldest_counts_drops_and_flush_does_not_wait_for_dropped_records()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transport = new RecordingTransport { Gate = gate.Task };
        var options = new TelemetryPipelineOptions { Capacity = 10, Backpressure = BackpressureMode.DropOldest, MaxBatchRecords = 1, MaxPendingBatches = 1, Linger = TimeSpan.Zero };
        await using var pipeline = new TelemetryPipeline(transport, options, new TestTime());

        for (int i = 0; i < 100; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));
        var flush = pipeline.FlushAsync();
        gate.SetResult();
        await flush.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(pipeline.DroppedRecords >= 78, $"dropped {pipeline.DroppedRecords}");
        var delivered = transport.DecodeDelivered().Select(r => (int)r.Value).ToList();
        Assert.Equal(100, delivered.Count + pipeline.DroppedRecords);
        Assert.Equal(delivered.Order(), delivered);
        Assert.Equal(99, delivered[^1]); // the newest survive
        Assert.Equal(0, pipeline.PendingRecords);
    }

    [Fact]
    public async Task Fail_fast_throws_when_the_queue_is_full()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transport = new RecordingTransport { Gate = gate.Task };
        var options = new TelemetryPipelineOptions { Capacity = 5, Backpressure = BackpressureMode.FailFast, MaxBatchRecords = 1, MaxPendingBatches = 1, Linger = TimeSpan.Zero };
        await using var pipeline = new TelemetryPipeline(transport, options, new TestTime());

        IoTAssert.Throws(IoTErrorKind.QueueFull, () =>
        {
            for (int i = 0; i < 100; i++) pipeline.TryWrite(Records.Make(i));
        });
        gate.SetResult();
    }

    [Fact]
    public async Task Wait_mode_write_waits_for_room()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transport = new RecordingTransport { Gate = gate.Task };
        var options = new TelemetryPipelineOptions { Capacity = 5, MaxBatchRecords = 1, MaxPendingBatches = 1, Linger = TimeSpan.Zero };
        await using var pipeline = new TelemetryPipeline(transport, options, new TestTime());

        var writes = Task.Run(async () =>
        {
            for (int i = 0; i < 50; i++) await pipeline.WriteAsync(Records.Make(i));
        });
        gate.SetResult();
        await writes.WaitAsync(TimeSpan.FromSeconds(10));
        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (double)i), transport.DecodeDelivered().Select(r => r.Value));
        Assert.Equal(0, pipeline.DroppedRecords);
    }

    [Fact]
    public async Task Dispose_drains_queued_records()
    {
        var transport = new RecordingTransport();
        var pipeline = new TelemetryPipeline(transport, new() { Linger = Forever }, new TestTime());
        for (int i = 0; i < 5; i++) pipeline.TryWrite(Records.Make(i));

        await pipeline.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(5, transport.DecodeDelivered().Count);
        Assert.False(pipeline.TryWrite(Records.Make(6)));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await pipeline.WriteAsync(Records.Make(7)));
        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Dispose_gives_up_at_the_drain_deadline_and_counts_the_rest_failed()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time) { Gate = new TaskCompletionSource().Task }; // never acknowledges
        var pipeline = new TelemetryPipeline(transport, new() { Linger = TimeSpan.Zero, DrainTimeout = TimeSpan.FromSeconds(3) }, time);
        for (int i = 0; i < 5; i++) pipeline.TryWrite(Records.Make(i));

        var disposal = pipeline.DisposeAsync().AsTask();
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(3));
        time.Advance(TimeSpan.FromSeconds(3));
        await disposal.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(5, pipeline.FailedRecords);
        Assert.Empty(transport.Delivered);
    }

    [Fact]
    public void Options_are_validated()
    {
        var transport = new RecordingTransport();
        Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryPipeline(transport, new() { Capacity = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryPipeline(transport, new() { CircuitBreakerMinimumThroughput = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryPipeline(transport, new() { BatchDeliveryTimeout = TimeSpan.FromSeconds(1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryPipeline(transport, new() { MaxPendingBatches = 0 }));
    }

    [Theory]
    [InlineData("dev-1", "temperature", 23.456)]
    [InlineData("dév-ü", "temp", -0.1)]          // escaped path
    [InlineData("a+b<c>", "x'y", 1e21)]           // characters the default encoder escapes
    [InlineData("plant-7/line 3", "coolant.temperature", 12345678.9)]
    public void Json_encoder_writes_what_TelemetryJson_writes(string device, string metric, double value)
    {
        var record = new TelemetryRecord(device, metric, value, Records.Epoch.AddTicks(123456789));
        var buffer = new ArrayBufferWriter<byte>();
        var encoder = TelemetryJsonEncoder.Instance;
        buffer.Write(encoder.BatchPrefix);
        encoder.WriteRecord(buffer, record);
        buffer.Write(encoder.RecordSeparator);
        encoder.WriteRecord(buffer, Records.Make(2));
        buffer.Write(encoder.BatchSuffix);

        var reference = new ArrayBufferWriter<byte>();
        TelemetryJson.WriteBatch(reference, [record, Records.Make(2)]);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(reference.WrittenSpan), System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        Assert.Equal(2, TelemetryJson.ReadBatch(buffer.WrittenSpan).Count);
    }
}
