using IoTMastery.Sdk.TestSupport;
using System.Buffers;
using IoTMastery.Sdk.Tests.Outbox;

namespace IoTMastery.Sdk.Tests.Telemetry;

/// <summary>Durable mode (<see cref="TelemetryPipelineOptions.Outbox"/>): accepted = in the outbox, acknowledged = removed from it.</summary>
public sealed class DurablePipelineTests : IDisposable
{
    private static readonly TimeSpan Forever = TimeSpan.FromHours(1);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly OutboxTestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private TelemetryPipelineOptions Options(TimeSpan? linger = null) => new()
    {
        Outbox = _dir.Options(segmentBytes: 64 * 1024, maxDiskBytes: 1024 * 1024),
        Encoder = TelemetryJsonEncoder.WithSequence,
        Linger = linger ?? Forever,
        JitterSource = () => 0,
        CircuitBreakerMinimumThroughput = 1000,
    };

    [Fact]
    public async Task A_write_completes_once_the_record_is_in_the_outbox_before_any_acknowledgement()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time) { Gate = new TaskCompletionSource().Task }; // never acknowledges
        var pipeline = new TelemetryPipeline(transport, Options(TimeSpan.Zero) with { DrainTimeout = TimeSpan.Zero }, time);

        for (int i = 1; i <= 10; i++) await pipeline.WriteAsync(Records.Make(i)).AsTask().WaitAsync(Bound);
        Assert.True(pipeline.IsDurable);
        Assert.Equal(10, pipeline.PendingRecords);
        Assert.Empty(transport.Delivered);
        await pipeline.DisposeAsync().AsTask().WaitAsync(Bound);

        Assert.Equal(0, pipeline.FailedRecords); // abandoned at the drain deadline, but kept on disk, not failed
        using var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: 64 * 1024, maxDiskBytes: 1024 * 1024));
        var stored = OutboxTestDirectory.ReadAll(outbox);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), stored.Select(s => s.Sequence));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (double)i), stored.Select(s => s.Record.Value));
    }

    [Fact]
    public async Task Records_left_by_a_previous_pipeline_are_replayed_first_in_order_with_their_sequence()
    {
        var time = new TestTime();
        var blocked = new RecordingTransport(time: time) { Gate = new TaskCompletionSource().Task };
        await using (var first = new TelemetryPipeline(blocked, Options(TimeSpan.Zero) with { DrainTimeout = TimeSpan.Zero }, time))
        {
            for (int i = 1; i <= 7; i++) Assert.True(first.TryWrite(Records.Make(i)));
        }

        var transport = new RecordingTransport(time: time);
        await using var second = new TelemetryPipeline(transport, Options(), time);
        for (int i = 8; i <= 10; i++) Assert.True(second.TryWrite(Records.Make(i)));
        await second.FlushAsync().WaitAsync(Bound);

        var delivered = transport.DecodeDelivered();
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (double)i), delivered.Select(r => r.Value));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long?)i), delivered.Select(r => r.Sequence));
        Assert.All(transport.Delivered, m => Assert.NotNull(m.FirstSequence));
        Assert.Equal(0, second.PendingRecords);
    }

    [Fact]
    public async Task A_transient_failure_after_the_last_attempt_rewinds_and_replays_the_same_records()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time)
        {
            Behavior = attempt => attempt == 1 ? new IoTException(IoTErrorKind.Unknown, "broker unavailable", "Test", isTransient: true) : null,
        };
        var options = Options() with { MaxAttempts = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(100) };
        await using var pipeline = new TelemetryPipeline(transport, options, time);

        // WriteAsync, not TryWrite: the flush must find all three in the outbox, or the first batch could hold only some
        // of them and the replay (which reads the outbox again) rightly carry more.
        for (int i = 1; i <= 3; i++) await pipeline.WriteAsync(Records.Make(i)).AsTask().WaitAsync(Bound);
        var flush = pipeline.FlushAsync();
        await transport.WaitForCallsAsync(1);
        await time.WaitForTimerAsync(TimeSpan.FromMilliseconds(100)); // the bounded backoff before the replay
        Assert.False(flush.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(100));
        await flush.WaitAsync(Bound);

        Assert.Equal([false, true], transport.Calls.Select(c => c.Succeeded));
        Assert.Equal(transport.Calls[0].Payload, transport.Calls[1].Payload);
        Assert.Equal([1L, 1L], transport.Calls.Select(c => c.FirstSequence ?? 0));
        Assert.Equal(0, pipeline.FailedRecords);
    }

    [Fact]
    public async Task A_long_outage_drops_nothing_and_backoff_stays_bounded()
    {
        var time = new TestTime();
        const int FailingCalls = 60;
        var transport = new RecordingTransport(time: time)
        {
            Behavior = attempt => attempt <= FailingCalls ? new IoTException(IoTErrorKind.Unknown, "offline", "Test", isTransient: true) : null,
        };
        var options = Options(TimeSpan.Zero) with
        {
            MaxBatchRecords = 5, MaxAttempts = 2, RetryBaseDelay = TimeSpan.FromMilliseconds(100), RetryMaxDelay = TimeSpan.FromSeconds(1),
            JitterSource = () => 1, // the ceiling of every backoff: 100 ms, 200 ms, ... capped at 1 s
        };
        await using var pipeline = new TelemetryPipeline(transport, options, time);
        for (int i = 1; i <= 20; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (transport.DecodeDelivered().Select(r => r.Sequence).Distinct().Count() < 20)
        {
            Assert.True(DateTime.UtcNow < deadline, $"not delivered after {transport.Calls.Count} calls");
            time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(1);
        }
        await pipeline.FlushAsync().WaitAsync(Bound);

        Assert.True(transport.Calls.Count > FailingCalls);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long?)i), transport.DecodeDelivered().Select(r => r.Sequence).Distinct().Order());
        Assert.All(transport.Delivered, m => Assert.Equal(TelemetryJson.ReadBatch(m.Payload)[0].Sequence, m.FirstSequence));
        // Gaps between consecutive calls never exceed the cap (plus one test tick).
        var gaps = transport.Calls.Zip(transport.Calls.Skip(1), (a, b) => b.At - a.At);
        Assert.All(gaps, g => Assert.True(g <= TimeSpan.FromSeconds(1.1), $"gap {g}"));
        Assert.Equal(0, pipeline.FailedRecords);
        Assert.Equal(0, pipeline.DroppedRecords);
        Assert.Equal(0, pipeline.PendingRecords);
    }

    [Fact]
    public async Task A_permanent_error_drops_only_its_batch_and_counts_it_failed()
    {
        var time = new TestTime();
        var transport = new RecordingTransport(time: time)
        {
            Behavior = attempt => attempt == 1 ? new IoTException(IoTErrorKind.Authorization, "not allowed", "Test") : null,
        };
        await using var pipeline = new TelemetryPipeline(transport, Options() with { MaxBatchRecords = 5 }, time);

        for (int i = 1; i <= 10; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));
        var error = await Assert.ThrowsAsync<IoTException>(() => pipeline.FlushAsync().WaitAsync(Bound));

        IoTAssert.Is(IoTErrorKind.Authorization, error.InnerException);
        Assert.Equal(5, pipeline.FailedRecords);
        Assert.Equal([6L, 7, 8, 9, 10], transport.DecodeDelivered().Select(r => r.Sequence!.Value));
        Assert.Equal(0, pipeline.PendingRecords); // the failed batch is acknowledged too, so it is not replayed
    }

    [Fact]
    public async Task A_full_outbox_fails_fast_or_makes_writers_wait_for_acknowledgements()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transport = new RecordingTransport { Gate = gate.Task };
        var small = _dir.Options(segmentBytes: 4096, maxDiskBytes: 8192);
        var options = Options(TimeSpan.Zero) with { Outbox = small, Backpressure = BackpressureMode.Wait };
        await using var pipeline = new TelemetryPipeline(transport, options);

        int accepted = 0;
        while (pipeline.TryWrite(Records.Make(accepted + 1))) Assert.True(++accepted < 1000, "the outbox never filled");
        var waiting = pipeline.WriteAsync(Records.Make(accepted + 1)).AsTask();
        Assert.False(waiting.IsCompleted);
        gate.SetResult();
        await waiting.WaitAsync(Bound);
        await pipeline.FlushAsync().WaitAsync(Bound);
        Assert.Equal(accepted + 1, transport.DecodeDelivered().Select(r => r.Sequence).Distinct().Count());

        var failFastDir = new OutboxTestDirectory();
        try
        {
            var blocked = new RecordingTransport { Gate = new TaskCompletionSource().Task };
            var failFast = options with { Outbox = failFastDir.Options(segmentBytes: 4096, maxDiskBytes: 8192), Backpressure = BackpressureMode.FailFast, DrainTimeout = TimeSpan.Zero };
            await using var strict = new TelemetryPipeline(blocked, failFast);
            var full = IoTAssert.Throws(IoTErrorKind.QueueFull, () => { for (int i = 1; i < 1000; i++) strict.TryWrite(Records.Make(i)); });
            IoTAssert.Is(IoTErrorKind.OutboxFull, full.InnerException);
        }
        finally
        {
            failFastDir.Dispose();
        }
    }

    [Fact]
    public async Task Concurrent_writers_share_appends_and_every_record_arrives_once_in_device_order()
    {
        var transport = new RecordingTransport();
        await using var pipeline = new TelemetryPipeline(transport, Options(TimeSpan.FromMilliseconds(5)) with { Outbox = _dir.Options(segmentBytes: 256 * 1024, maxDiskBytes: 16 * 1024 * 1024) });

        const int Writers = 4, PerWriter = 5000;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < PerWriter; i++) await pipeline.WriteAsync(Records.Make(i, $"dev-{w}"));
        }))).WaitAsync(TimeSpan.FromSeconds(30));
        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(30));

        var delivered = transport.DecodeDelivered();
        Assert.Equal(Writers * PerWriter, delivered.Count);
        Assert.Equal(Enumerable.Range(1, Writers * PerWriter).Select(i => (long?)i), delivered.Select(r => r.Sequence));
        foreach (var device in delivered.GroupBy(r => r.DeviceId))
            Assert.Equal(Enumerable.Range(0, PerWriter).Select(i => (double)i), device.Select(r => r.Value));
    }

    [Fact]
    public async Task Writers_arriving_during_an_append_are_committed_as_one_group_and_complete_only_after_it()
    {
        var transport = new RecordingTransport();
        await using var pipeline = new TelemetryPipeline(transport, Options(TimeSpan.Zero));
        using var release = new SemaphoreSlim(0);
        var leader = await HoldInlineAppendAsync(pipeline, Records.Make(1), release);

        // The leader's append is held open: these stage behind it and must not complete before their group is written.
        var followers = Enumerable.Range(2, 9).Select(i => pipeline.WriteAsync(Records.Make(i)).AsTask()).ToArray();
        Assert.All(followers, f => Assert.False(f.IsCompleted));
        Assert.Equal(0, pipeline.PendingRecords);
        release.Release();
        await Task.WhenAll([leader, .. followers]).WaitAsync(Bound);

        Assert.Equal(1, pipeline.GroupCommits);
        Assert.Equal(9, pipeline.GroupedRecords);
        await pipeline.FlushAsync().WaitAsync(Bound);
        var delivered = transport.DecodeDelivered();
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (double)i), delivered.Select(r => r.Value));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long?)i), delivered.Select(r => r.Sequence));
    }

    [Fact]
    public async Task A_record_the_outbox_refuses_fails_only_its_own_writer_in_a_group()
    {
        var transport = new RecordingTransport();
        await using var pipeline = new TelemetryPipeline(transport, Options(TimeSpan.Zero));
        using var release = new SemaphoreSlim(0);
        var leader = await HoldInlineAppendAsync(pipeline, Records.Make(1), release);

        var before = pipeline.WriteAsync(Records.Make(2)).AsTask();
        // A device id longer than the outbox frame can hold (65,535 UTF-8 bytes): AppendBatch refuses the whole group.
        var bad = pipeline.WriteAsync(new TelemetryRecord(new string('d', 70_000), "temperature", 99, Records.Epoch)).AsTask();
        var after = pipeline.WriteAsync(Records.Make(3)).AsTask();
        release.Release();

        await Task.WhenAll(leader, before, after).WaitAsync(Bound);
        await Assert.ThrowsAsync<ArgumentException>(() => bad.WaitAsync(Bound));
        await pipeline.FlushAsync().WaitAsync(Bound);
        Assert.Equal([1.0, 2.0, 3.0], transport.DecodeDelivered().Select(r => r.Value));
    }

    /// <summary>Starts a write that appends inline and holds it inside its append until <paramref name="release"/>, so others stage behind it.</summary>
    private static async Task<Task> HoldInlineAppendAsync(TelemetryPipeline pipeline, TelemetryRecord record, SemaphoreSlim release)
    {
        using var inside = new SemaphoreSlim(0);
        pipeline.BeforeInlineAppend = () =>
        {
            pipeline.BeforeInlineAppend = null;
            inside.Release();
            release.Wait(Bound);
        };
        var leader = Task.Run(() => pipeline.WriteAsync(record).AsTask());
        Assert.True(await inside.WaitAsync(Bound));
        return leader;
    }

    [Fact]
    public async Task WriteBatchAsync_appends_in_one_go_and_interleaves_with_single_writes_in_order()
    {
        var transport = new RecordingTransport();
        await using var pipeline = new TelemetryPipeline(transport, Options(TimeSpan.FromMilliseconds(5)));

        await pipeline.WriteAsync(Records.Make(1));
        await pipeline.WriteBatchAsync(Enumerable.Range(2, 100).Select(i => Records.Make(i)).ToArray());
        await pipeline.WriteAsync(Records.Make(102));
        await pipeline.FlushAsync().WaitAsync(Bound);

        var delivered = transport.DecodeDelivered();
        Assert.Equal(Enumerable.Range(1, 102).Select(i => (double)i), delivered.Select(r => r.Value));
        Assert.Equal(Enumerable.Range(1, 102).Select(i => (long?)i), delivered.Select(r => r.Sequence));
        await Assert.ThrowsAsync<ArgumentException>(() => pipeline.WriteBatchAsync(new TelemetryRecord[] { Records.Make(1), default }).AsTask());
    }

    [Fact]
    public void Json_writes_the_sequence_only_when_configured_and_reads_it_back()
    {
        var record = Records.Make(1) with { Sequence = 42 };
        var plain = new System.Buffers.ArrayBufferWriter<byte>();
        TelemetryJsonEncoder.Instance.WriteRecord(plain, record);
        Assert.DoesNotContain("\"s\"", System.Text.Encoding.UTF8.GetString(plain.WrittenSpan));

        foreach (var device in new[] { "dev-1", "dév<1>" }) // the plain fast path and the escaping path
        {
            var output = new System.Buffers.ArrayBufferWriter<byte>();
            output.Write("["u8);
            TelemetryJsonEncoder.WithSequence.WriteRecord(output, new TelemetryRecord(device, "temperature", 1, Records.Epoch) { Sequence = 42 });
            output.Write("]"u8);
            var read = Assert.Single(TelemetryJson.ReadBatch(output.WrittenSpan));
            Assert.Equal(42, read.Sequence);
            Assert.Equal(device, read.DeviceId);
        }
        Assert.Null(Assert.Single(TelemetryJson.ReadBatch("""[{"d":"a","m":"b","v":1,"t":2}]"""u8)).Sequence);
        Assert.Throws<FormatException>(() => TelemetryJson.ReadBatch("""[{"d":"a","m":"b","v":1,"t":2,"s":0}]"""u8));
        Assert.Throws<ArgumentOutOfRangeException>(() => Records.Make(1) with { Sequence = 0 });
    }
}
