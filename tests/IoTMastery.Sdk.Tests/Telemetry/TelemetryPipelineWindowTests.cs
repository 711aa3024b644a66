using IoTMastery.Sdk.TestSupport;
using System.Threading.Channels;

namespace IoTMastery.Sdk.Tests.Telemetry;

/// <summary>
/// Issue #18 target 1: several batches in flight (<see cref="TelemetryPipelineOptions.MaxBatchesInFlight"/>), against a
/// transport that behaves like one MQTT connection: it processes sends in the order they were started, and each one is
/// answered (acknowledged or refused) by the test or by a seeded broker model. What the broker "delivered" is every
/// acknowledged send in the order it was started, which is what a subscriber would see.
/// </summary>
public sealed class TelemetryPipelineWindowTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(4, 64, 4)]  // the default window, on a transport that keeps order
    [InlineData(1, 64, 1)]  // 1: one batch at a time, as before the window
    [InlineData(4, 1, 1)]   // a transport that may reorder concurrent sends (the default) gets one at a time
    [InlineData(8, 3, 3)]   // the transport's bound wins when smaller
    public async Task Batches_in_flight_are_bounded_by_the_option_and_the_transport(int option, int transportBound, int expected)
    {
        var transport = new OrderedTransport(transportBound);
        await using var pipeline = new TelemetryPipeline(transport, new() { MaxBatchRecords = 1, Linger = TimeSpan.Zero, MaxBatchesInFlight = option }, new TestTime());
        for (int i = 0; i < 12; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));

        // Answer nothing until the window is full, so the high-water mark is the window, then acknowledge as they come.
        for (int i = 0; i < expected; i++) await transport.NextCallAsync();
        int answered = 0;
        while (answered < 12)
        {
            transport.Answer(answered++, error: null);
            if (answered + expected - 1 < 12) await transport.NextCallAsync();
        }
        await pipeline.FlushAsync().WaitAsync(Bound);

        Assert.Equal(expected, transport.MostPending);
        Assert.Equal(Enumerable.Range(0, 12), transport.DeliveredValues().Select(v => (int)v));
        Assert.Equal(0, pipeline.FailedRecords);
    }

    [Fact]
    public async Task A_batch_refused_mid_stream_is_retried_before_later_ones_and_those_already_acknowledged_are_sent_again_after_it()
    {
        var transport = new OrderedTransport(64);
        var options = new TelemetryPipelineOptions { MaxBatchRecords = 1, Linger = TimeSpan.Zero, MaxBatchesInFlight = 4, JitterSource = () => 0 };
        await using var pipeline = new TelemetryPipeline(transport, options, new TestTime());
        for (int i = 0; i < 8; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));

        // Four in flight; the broker refuses the first (a transient quota refusal) and accepts the three after it.
        for (int i = 0; i < 4; i++) Assert.Equal([i], (await transport.NextCallAsync()).Values);
        transport.Answer(0, new IoTException(IoTErrorKind.Unknown, "quota exceeded", "Test", "QuotaExceeded", isTransient: true));
        for (int i = 1; i < 4; i++) transport.Answer(i, error: null);

        // The retry of record 0 comes first, then 1-3 again one at a time (they reached the broker before the retry),
        // and only then the records written after them.
        var retry = await transport.NextCallAsync();
        Assert.Equal([0], retry.Values);
        transport.Answer(retry.Index, null);
        for (int i = 1; i < 4; i++)
        {
            var replay = await transport.NextCallAsync();
            Assert.Equal([i], replay.Values);
            Assert.Equal(1, transport.Pending); // serial until the order is restored
            transport.Answer(replay.Index, null);
        }
        for (int i = 4; i < 8; i++) Assert.Equal([i], (await transport.NextCallAsync()).Values);
        for (int i = 8; i < 12; i++) transport.Answer(i, null);
        await pipeline.FlushAsync().WaitAsync(Bound);

        // At-least-once: every record arrived, 1-3 twice; the last copy of each is in write order.
        var delivered = transport.DeliveredValues();
        Assert.Equal([1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7], delivered);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => (double)i), LastCopies(delivered));
        Assert.Equal(0, pipeline.FailedRecords);
        Assert.Equal(0, pipeline.PendingRecords);
    }

    [Fact]
    public async Task A_lost_connection_with_four_in_flight_retries_them_in_order_without_sending_any_twice()
    {
        var transport = new OrderedTransport(64);
        var options = new TelemetryPipelineOptions { MaxBatchRecords = 1, Linger = TimeSpan.Zero, MaxBatchesInFlight = 4, JitterSource = () => 0 };
        await using var pipeline = new TelemetryPipeline(transport, options, new TestTime());
        for (int i = 0; i < 6; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));

        for (int i = 0; i < 4; i++) await transport.NextCallAsync();
        // A dropped connection fails every publish awaiting its PUBACK (MQTT acknowledges in order, so none after a failed one got through).
        for (int i = 0; i < 4; i++) transport.Answer(i, new IoTException(IoTErrorKind.Unknown, "connection lost", "Test", "Disconnected", isTransient: true));
        for (int i = 0; i < 4; i++)
        {
            var retry = await transport.NextCallAsync();
            Assert.Equal([i], retry.Values);
            Assert.Equal(1, transport.Pending); // each waits until the ones before it are through
            transport.Answer(retry.Index, null);
        }
        for (int i = 4; i < 6; i++)
        {
            var call = await transport.NextCallAsync();
            Assert.Equal([i], call.Values);
            transport.Answer(call.Index, null);
        }
        await pipeline.FlushAsync().WaitAsync(Bound);

        Assert.Equal(Enumerable.Range(0, 6).Select(i => (double)i), transport.DeliveredValues());
        Assert.Equal(0, pipeline.FailedRecords);
    }

    [Fact]
    public async Task A_permanently_refused_batch_is_dropped_alone_and_later_ones_are_not_sent_again()
    {
        var transport = new OrderedTransport(64);
        await using var pipeline = new TelemetryPipeline(transport, new() { MaxBatchRecords = 1, Linger = TimeSpan.Zero, MaxBatchesInFlight = 4 }, new TestTime());
        for (int i = 0; i < 4; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));
        for (int i = 0; i < 4; i++) await transport.NextCallAsync();
        transport.Answer(1, new IoTException(IoTErrorKind.Authorization, "not allowed", "Test"));
        foreach (int i in new[] { 0, 2, 3 }) transport.Answer(i, null);

        var error = await Assert.ThrowsAsync<IoTException>(() => pipeline.FlushAsync().WaitAsync(Bound));
        IoTAssert.Is(IoTErrorKind.Authorization, error.InnerException);
        Assert.Equal([0, 2, 3], transport.DeliveredValues());
        Assert.Equal(4, transport.CallCount);
        Assert.Equal(1, pipeline.FailedRecords);
    }

    [Theory]
    [InlineData(20261207)]
    [InlineData(7)]
    public async Task Random_transient_refusals_with_a_full_window_lose_nothing_and_keep_each_devices_last_copies_in_order(int seed)
    {
        // A broker model answering in call order, refusing a seeded 15 % of publishes transiently.
        var random = new Random(seed);
        var transport = new OrderedTransport(64, call => random.NextDouble() < 0.15 ? new IoTException(IoTErrorKind.Unknown, "busy", "Test", "QuotaExceeded", isTransient: true) : null);
        var options = new TelemetryPipelineOptions
        {
            MaxBatchRecords = 7, Linger = TimeSpan.Zero, Capacity = 256, MaxBatchesInFlight = 4, MaxAttempts = 100,
            JitterSource = () => 0, CircuitBreakerMinimumThroughput = 100_000,
        };
        await using var pipeline = new TelemetryPipeline(transport, options, new TestTime());
        const int perDevice = 1_500;
        var writers = Enumerable.Range(0, 4).Select(d => Task.Run(async () =>
        {
            for (int i = 0; i < perDevice; i++) await pipeline.WriteAsync(Records.Make(i, $"dev-{d}"));
        })).ToArray();
        await Task.WhenAll(writers).WaitAsync(Bound);
        await pipeline.FlushAsync().WaitAsync(Bound);

        var delivered = transport.DeliveredRecords();
        Assert.True(transport.Refused > 10, $"only {transport.Refused} refusals: the run did not exercise the retry path");
        Assert.True(transport.MostPending > 1, "never more than one batch in flight");
        foreach (var device in delivered.GroupBy(r => r.DeviceId))
            Assert.Equal(Enumerable.Range(0, perDevice).Select(i => (double)i), LastCopies(device.Select(r => r.Value).ToList()));
        Assert.Equal(4, delivered.Select(r => r.DeviceId).Distinct().Count());
        Assert.Equal(0, pipeline.FailedRecords);
    }

    [Fact]
    public async Task Paced_batches_in_flight_reach_the_transport_in_order_when_their_delays_end_together()
    {
        // One message per second, burst 1: of four in flight the first goes at once and the others wait 1, 2 and 3 s.
        var time = new TestTime();
        var transport = new OrderedTransport(64, messagesPerSecond: 1);
        await using var pipeline = new TelemetryPipeline(transport, new() { MaxBatchRecords = 1, Linger = TimeSpan.Zero, MaxBatchesInFlight = 4 }, time);
        for (int i = 0; i < 8; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));

        for (int round = 0; round < 2; round++)
        {
            Assert.Equal([4 * round], (await transport.NextCallAsync()).Values);
            await time.WaitForTimerAsync(d => d > TimeSpan.FromSeconds(2.5) && d <= TimeSpan.FromSeconds(3));
            time.Advance(TimeSpan.FromSeconds(10)); // all three delays end in one step
            for (int i = 1; i < 4; i++) Assert.Equal([4 * round + i], (await transport.NextCallAsync()).Values);
            for (int i = 0; i < 4; i++) transport.Answer(4 * round + i, null);
        }
        await pipeline.FlushAsync().WaitAsync(Bound);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => (double)i), transport.DeliveredValues());
    }

    [Fact]
    public void MaxBatchesInFlight_is_validated()
    {
        var transport = new RecordingTransport();
        Assert.Equal("MaxBatchesInFlight", Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryPipeline(transport, new() { MaxBatchesInFlight = 0 })).ParamName);
        Assert.Equal("MaxBatchesInFlight", Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryPipeline(transport, new() { MaxBatchesInFlight = 257 })).ParamName);
        Assert.Equal(4, new TelemetryPipelineOptions().MaxBatchesInFlight);
    }

    /// <summary>Each value's last occurrence, in the order of those last occurrences: what a consumer keeping the latest copy sees.</summary>
    private static List<double> LastCopies(IReadOnlyList<double> values)
    {
        var last = new Dictionary<double, int>();
        for (int i = 0; i < values.Count; i++) last[values[i]] = i;
        return [.. last.OrderBy(p => p.Value).Select(p => p.Key)];
    }

    /// <summary>One send the pipeline started, in the order it started them.</summary>
    private sealed record Call(int Index, double[] Values, List<TelemetryRecord> Records, TaskCompletionSource Answer)
    {
        public bool? Acknowledged { get; set; }
    }

    /// <summary>
    /// A transport with one connection's ordering: sends are numbered in the order they start, and a send counts as
    /// delivered when it is acknowledged, in start order (the broker processed it when it arrived). With
    /// <c>autoAnswer</c> a broker task answers each call in order (null acknowledges); otherwise the test answers.
    /// </summary>
    private sealed class OrderedTransport : ITelemetryTransport
    {
        private readonly Lock _lock = new();
        private readonly List<Call> _calls = [];
        private readonly Channel<Call> _arrivals = Channel.CreateUnbounded<Call>();
        private readonly Func<Call, Exception?>? _autoAnswer;
        private int _pending, _mostPending, _refused, _read;

        public OrderedTransport(int maxInFlight, Func<Call, Exception?>? autoAnswer = null, double messagesPerSecond = 0)
        {
            Limits = new TelemetryTransportLimits { MaxInFlight = maxInFlight, MaxMessagesPerSecond = messagesPerSecond };
            _autoAnswer = autoAnswer;
            if (autoAnswer is not null) _ = Task.Run(AnswerInOrderAsync);
        }

        public TelemetryTransportLimits Limits { get; }

        public int MostPending { get { lock (_lock) return _mostPending; } }

        public int Pending { get { lock (_lock) return _pending; } }

        public int Refused { get { lock (_lock) return _refused; } }

        public int CallCount { get { lock (_lock) return _calls.Count; } }

        public ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken)
        {
            var records = TelemetryJson.ReadBatch(batch.Payload.Span);
            Call call;
            lock (_lock)
            {
                call = new Call(_calls.Count, [.. records.Select(r => r.Value)], records, new(TaskCreationOptions.RunContinuationsAsynchronously));
                _calls.Add(call);
                _mostPending = Math.Max(_mostPending, ++_pending);
            }
            _arrivals.Writer.TryWrite(call);
            return new ValueTask(call.Answer.Task.WaitAsync(cancellationToken));
        }

        public bool IsTransient(Exception exception) => exception is IoTException { IsTransient: true };

        /// <summary>The next call not yet returned by this method (10 s at most).</summary>
        public async Task<Call> NextCallAsync()
        {
            if (_autoAnswer is not null) throw new InvalidOperationException("The broker model answers this transport.");
            using var deadline = new CancellationTokenSource(Bound);
            var call = await _arrivals.Reader.ReadAsync(deadline.Token);
            Assert.Equal(_read++, call.Index);
            return call;
        }

        public void Answer(int index, Exception? error)
        {
            Call call;
            lock (_lock)
            {
                call = _calls[index];
                call.Acknowledged = error is null;
                _pending--;
                if (error is not null) _refused++;
            }
            if (error is null) call.Answer.TrySetResult();
            else call.Answer.TrySetException(error);
        }

        private async Task AnswerInOrderAsync()
        {
            await foreach (var call in _arrivals.Reader.ReadAllAsync())
            {
                await Task.Yield(); // let the pipeline start the next sends meanwhile, as PUBACKs arrive after the PUBLISHes
                Answer(call.Index, _autoAnswer!(call));
            }
        }

        public List<double> DeliveredValues() => [.. DeliveredRecords().Select(r => r.Value)];

        public List<TelemetryRecord> DeliveredRecords()
        {
            lock (_lock) return [.. _calls.Where(c => c.Acknowledged == true).SelectMany(c => c.Records)];
        }
    }
}
