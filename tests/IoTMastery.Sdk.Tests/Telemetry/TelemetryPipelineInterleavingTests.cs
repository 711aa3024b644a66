using System.Buffers;

namespace IoTMastery.Sdk.Tests.Telemetry;

/// <summary>
/// Intake interleavings, each run with a linger (the batcher leaves a partial batch open between passes) and without one
/// (it seals whenever it runs dry), so any intake or batching change is held to the same behaviour on both: several
/// producers, flushes, tiny lingers, a slow transport under DropOldest, disposal mid-stream, an encoder that throws and
/// records too large to send. Per-producer sequence numbers are checked at a transport that keeps what it got. Real time
/// and real threads; nothing asserts on speed. (Written for issue #18's producer-side encoding attempt, which showed no
/// gain and was not kept; see benchmarks/README.md.)
/// </summary>
public sealed class TelemetryPipelineInterleavingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public static TheoryData<int, int, int, int> Shapes => new()
    {
        // linger ms, max batch records, batches in flight, max pending batches
        { 1, 7, 1, 1 },
        { 1, 512, 4, 4 },
        { 10, 13, 4, 1 },
        { 0, 7, 4, 1 },
        { 0, 512, 4, 4 },
        { 1000, 3, 2, 2 },
    };

    private static TelemetryRecord Record(int producer, int sequence) =>
        new($"dev-{producer}", "seq", sequence, Records.Epoch.AddMilliseconds(sequence));

    // Per producer (device), the values delivered, in the order the transport received them.
    private static Dictionary<string, List<int>> ByProducer(RecordingTransport transport) =>
        transport.DecodeDelivered().GroupBy(r => r.DeviceId).ToDictionary(g => g.Key, g => g.Select(r => (int)r.Value).ToList());

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Concurrent_producers_with_flushes_deliver_every_record_once_in_each_producers_order(int lingerMs, int maxRecords, int inFlight, int pending)
    {
        const int Producers = 4, PerProducer = 3_000;
        var transport = new RecordingTransport();
        var options = new TelemetryPipelineOptions
        {
            Linger = TimeSpan.FromMilliseconds(lingerMs), MaxBatchRecords = maxRecords, MaxBatchesInFlight = inFlight, MaxPendingBatches = pending,
        };
        await using var pipeline = new TelemetryPipeline(transport, options);

        var flushes = new List<Task>();
        var producers = Enumerable.Range(0, Producers).Select(p => Task.Run(async () =>
        {
            for (int i = 0; i < PerProducer; i++)
            {
                if (!pipeline.TryWrite(Record(p, i))) await pipeline.WriteAsync(Record(p, i));
                // Flushes land in the middle of other producers' writes; every one must complete.
                if (p == 0 && i % 500 == 250) lock (flushes) flushes.Add(pipeline.FlushAsync());
                if (i % 97 == 0) await Task.Yield();
            }
        })).ToArray();
        await Task.WhenAll(producers).WaitAsync(Patience);
        await pipeline.FlushAsync().WaitAsync(Patience);
        Task[] all;
        lock (flushes) all = [.. flushes];
        await Task.WhenAll(all).WaitAsync(Patience);

        var got = ByProducer(transport);
        Assert.Equal(Producers, got.Count);
        foreach (var (_, values) in got) Assert.Equal(Enumerable.Range(0, PerProducer), values);
        Assert.All(transport.Calls, c => Assert.InRange(c.RecordCount, 1, maxRecords));
        Assert.Equal(0, pipeline.PendingRecords);
        Assert.Equal(0, pipeline.FailedRecords);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(20)]
    public async Task A_flush_covers_every_record_written_before_it_even_while_producers_keep_writing(int lingerMs)
    {
        var transport = new RecordingTransport();
        await using var pipeline = new TelemetryPipeline(transport, new() { Linger = TimeSpan.FromMilliseconds(lingerMs), MaxBatchRecords = 50 });
        using var stop = new CancellationTokenSource();
        var background = Task.Run(async () =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                if (!pipeline.TryWrite(Record(1, i))) await pipeline.WriteAsync(Record(1, i));
                // Keeps the background stream from filling the queue, so each flush waits for tens of batches, not thousands.
                if (i % 200 == 0) await Task.Delay(1);
            }
        });
        for (int round = 0; round < 50; round++)
        {
            int mine = round * 10;
            for (int i = mine; i < mine + 10; i++) await pipeline.WriteAsync(Record(0, i));
            await pipeline.FlushAsync().WaitAsync(Patience);
            // Acknowledged by the time the flush returns, in order.
            Assert.Equal(Enumerable.Range(0, mine + 10), ByProducer(transport)["dev-0"]);
        }
        await stop.CancelAsync();
        await background.WaitAsync(Patience);
        await pipeline.FlushAsync().WaitAsync(Patience);
        var stream = ByProducer(transport)["dev-1"];
        Assert.Equal(Enumerable.Range(0, stream.Count), stream);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Drop_oldest_under_a_slow_transport_keeps_each_producers_order_and_accounts_for_every_record(int lingerMs)
    {
        const int Producers = 3, PerProducer = 2_000;
        var transport = new RecordingTransport();
        // Each send waits a little, so the send queue stays full and the ring overflows.
        transport.Behavior = _ => { Thread.Sleep(1); return null; };
        var options = new TelemetryPipelineOptions
        {
            Capacity = 50, Backpressure = BackpressureMode.DropOldest, MaxBatchRecords = 5, MaxPendingBatches = 1, MaxBatchesInFlight = 1,
            Linger = TimeSpan.FromMilliseconds(lingerMs),
        };
        await using var pipeline = new TelemetryPipeline(transport, options);

        var producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            for (int i = 0; i < PerProducer; i++) Assert.True(pipeline.TryWrite(Record(p, i)));
        })).ToArray();
        await Task.WhenAll(producers).WaitAsync(Patience);
        await pipeline.FlushAsync().WaitAsync(Patience);

        var got = ByProducer(transport);
        Assert.True(pipeline.DroppedRecords > 0, "the ring never overflowed");
        Assert.Equal(Producers * PerProducer, got.Values.Sum(v => v.Count) + pipeline.DroppedRecords);
        foreach (var (_, values) in got)
        {
            Assert.Equal(values.Order(), values);
            Assert.Equal(values.Distinct().Count(), values.Count);
        }
        Assert.Equal(0, pipeline.PendingRecords);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1000)]
    public async Task Dispose_mid_stream_delivers_every_accepted_record_in_order_and_refuses_the_rest(int lingerMs)
    {
        const int Producers = 3;
        var transport = new RecordingTransport();
        var pipeline = new TelemetryPipeline(transport, new() { Linger = TimeSpan.FromMilliseconds(lingerMs), MaxBatchRecords = 11, MaxPendingBatches = 1 });
        var accepted = new int[Producers];
        using var started = new CountdownEvent(Producers);
        var producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            started.Signal();
            // Fewer than Capacity records in all, so a refusal can only mean the pipeline closed.
            for (int i = 0; i < 30_000; i++)
            {
                if (!pipeline.TryWrite(Record(p, i)))
                {
                    // Refused only once closed: nothing after the first refusal is accepted either.
                    for (int j = 1; j <= 100; j++) Assert.False(pipeline.TryWrite(Record(p, i + j)));
                    return;
                }
                accepted[p] = i + 1;
            }
        })).ToArray();
        started.Wait(Patience);
        await Task.Delay(20);
        await pipeline.DisposeAsync().AsTask().WaitAsync(Patience);
        await Task.WhenAll(producers).WaitAsync(Patience);

        var got = ByProducer(transport);
        Assert.True(accepted.Sum() > 0);
        for (int p = 0; p < Producers; p++)
            Assert.Equal(Enumerable.Range(0, accepted[p]), got.GetValueOrDefault($"dev-{p}", []));
        Assert.Equal(0, pipeline.PendingRecords);
        Assert.Equal(0, pipeline.FailedRecords);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    public async Task An_encoder_that_throws_stops_the_pipeline_and_every_record_it_strands_is_reported_failed(int lingerMs)
    {
        var transport = new RecordingTransport();
        var options = new TelemetryPipelineOptions
        {
            Linger = TimeSpan.FromMilliseconds(lingerMs), MaxBatchRecords = 2, Encoder = new ThrowingEncoder(failOn: 5), DrainTimeout = TimeSpan.FromSeconds(5),
        };
        var pipeline = new TelemetryPipeline(transport, options);
        for (int i = 0; i < 10; i++) Assert.True(pipeline.TryWrite(Record(0, i)));

        // The flush neither waits forever nor reports success: 4 (in the open batch), 5 (the failing record) and 6-9
        // (behind it in the intake) were accepted and will never be sent.
        var error = await Assert.ThrowsAsync<IoTException>(() => pipeline.FlushAsync().WaitAsync(Patience));
        Assert.Contains("6 telemetry records", error.Message);
        Assert.Equal("encoder failure under test", error.InnerException?.Message);
        Assert.Equal(6, pipeline.FailedRecords);
        Assert.Equal(0, pipeline.PendingRecords);
        // Stopped: a record written now would have nobody to send it, so it is refused rather than accepted and lost.
        Assert.False(pipeline.TryWrite(Record(0, 10)));
        await pipeline.DisposeAsync().AsTask().WaitAsync(Patience);

        // The batches sealed before the failing record went out; nothing after it did.
        Assert.Equal([0, 1, 2, 3], transport.Calls.SelectMany(c => ThrowingEncoder.Values(c.Payload)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    public async Task Records_too_large_are_counted_failed_on_either_path_and_the_rest_stay_in_order(int lingerMs)
    {
        var transport = new RecordingTransport(new TelemetryTransportLimits { MaxMessageBytes = 200 });
        await using var pipeline = new TelemetryPipeline(transport, new() { Linger = TimeSpan.FromMilliseconds(lingerMs), MaxBatchRecords = 3 });
        var big = new string('x', 300);
        for (int i = 0; i < 20; i++)
            Assert.True(pipeline.TryWrite(i % 4 == 1 ? new TelemetryRecord(big, "seq", i, Records.Epoch) : Record(0, i)));
        var error = await Assert.ThrowsAsync<IoTException>(() => pipeline.FlushAsync().WaitAsync(Patience));
        Assert.Contains("5 telemetry records", error.Message);
        Assert.Equal(5, pipeline.FailedRecords);
        Assert.Equal(Enumerable.Range(0, 20).Where(i => i % 4 != 1), ByProducer(transport)["dev-0"]);
        Assert.Equal(0, pipeline.PendingRecords);
    }

    // Writes each record's value as one decimal; throws for one value.
    private sealed class ThrowingEncoder(int failOn) : ITelemetryEncoder
    {
        public ReadOnlySpan<byte> BatchPrefix => "["u8;
        public ReadOnlySpan<byte> RecordSeparator => ","u8;
        public ReadOnlySpan<byte> BatchSuffix => "]"u8;

        public void WriteRecord(IBufferWriter<byte> output, in TelemetryRecord record)
        {
            if ((int)record.Value == failOn) throw new InvalidOperationException("encoder failure under test");
            var text = System.Text.Encoding.ASCII.GetBytes(((int)record.Value).ToString(System.Globalization.CultureInfo.InvariantCulture));
            output.Write(text);
        }

        public static IEnumerable<int> Values(byte[] payload) =>
            System.Text.Json.JsonSerializer.Deserialize<int[]>(payload)!;
    }
}
