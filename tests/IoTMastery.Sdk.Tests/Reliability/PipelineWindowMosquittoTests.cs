using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>
/// Issue #18 target 1 against a real Eclipse Mosquitto (mutual TLS): an in-memory <see cref="TelemetryPipeline"/> with
/// four batches in flight through <see cref="MqttTelemetryTransport"/> loses its connection mid-stream, again and again,
/// by session takeover (a second client connects with the device's client id, so Mosquitto closes the device's
/// connection and every publish awaiting its PUBACK fails). The broker itself stays up, so a subscriber on a separate
/// connection sees exactly what the broker accepted, in the order it accepted it.
/// </summary>
public sealed class PipelineWindowMosquittoTests(ITestOutputHelper output)
{
    private const string Device = "window-device";
    private const string Topic = "devices/window-device/telemetry";
    private const int Total = 30_000;
    private const int Takeovers = 5;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private static readonly byte[] EndMarker = "window-end-marker"u8.ToArray();

    [Fact]
    public async Task Connection_losses_with_several_batches_in_flight_lose_nothing_and_keep_the_devices_last_copies_in_order()
    {
        await using var broker = await MosquittoBroker.StartAsync(new MosquittoBrokerOptions
        {
            // Connection events only, and no limit on the subscriber's queue, so the broker drops nothing for a slow consumer.
            LogTypes = ["error", "warning", "notice"],
            ExtraConfiguration = ["max_queued_messages 0"],
        });
        var received = new List<double>();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var consumer = new MqttDeviceClient(MosquittoSoakTests.ClientOptions(broker, "window-consumer"));
        await consumer.SubscribeAsync(Topic, (message, _) =>
        {
            if (message.Payload.Span.SequenceEqual(EndMarker)) ended.TrySetResult();
            else lock (received) received.AddRange(TelemetryJson.ReadBatch(message.Payload.Span).Select(r => r.Value));
            return ValueTask.CompletedTask;
        });
        await consumer.ConnectAsync().WaitAsync(Bound);

        await using var producer = new MqttDeviceClient(MosquittoSoakTests.ClientOptions(broker, Device));
        await producer.ConnectAsync().WaitAsync(Bound);
        var transport = new CountingTransport(new MqttTelemetryTransport(producer, Topic));
        var pipeline = new TelemetryPipeline(transport, new TelemetryPipelineOptions
        {
            MaxBatchRecords = 50,
            MaxBatchesInFlight = 4,
            MaxAttempts = 100,
            RetryBaseDelay = TimeSpan.FromMilliseconds(25),
            RetryMaxDelay = TimeSpan.FromMilliseconds(400),
            AttemptTimeout = TimeSpan.FromSeconds(10),
            BatchDeliveryTimeout = TimeSpan.FromMinutes(5),
            CircuitBreakerMinimumThroughput = 100_000,
            DrainTimeout = Bound,
        });
        try
        {
            var start = new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero);
            var writer = Task.Run(async () =>
            {
                for (int i = 0; i < Total; i++) await pipeline.WriteAsync(new TelemetryRecord(Device, "line.speed", i, start.AddMilliseconds(i)));
            });
            for (int k = 1; k <= Takeovers; k++)
            {
                await transport.WaitForAcknowledgedAsync(k * Total / (Takeovers + 2), Bound);
                // Connected, then gone at once: the device's own client reconnects (50 ms base delay) and takes its session back.
                await using var intruder = new MqttDeviceClient(MosquittoSoakTests.ClientOptions(broker, Device));
                await intruder.ConnectAsync().WaitAsync(Bound);
            }
            await writer.WaitAsync(Bound);
            await pipeline.FlushAsync().WaitAsync(Bound);
            // Mosquitto delivers one session's QoS 1 messages in order, so the marker arrives after everything before it.
            await PublishOnceConnectedAsync(producer, Topic, EndMarker).WaitAsync(Bound);
            await ended.Task.WaitAsync(Bound);
        }
        finally
        {
            await pipeline.DisposeAsync();
        }

        List<double> copies;
        lock (received) copies = [.. received];
        output.WriteLine($"{Total:N0} records, {copies.Count:N0} copies received, {transport.Sends:N0} sends, {transport.Failures} failed sends, most in flight {transport.MostInFlight}");
        Assert.True(transport.Failures > 0, "no publish was in flight when the connection was taken over");
        Assert.True(transport.MostInFlight > 1, "never more than one batch in flight");
        Assert.Equal(0, pipeline.FailedRecords);
        // At-least-once, and each record's last copy in write order (MaxBatchesInFlight's documented guarantee).
        var last = new Dictionary<double, int>();
        for (int i = 0; i < copies.Count; i++) last[copies[i]] = i;
        Assert.Equal(Enumerable.Range(0, Total).Select(i => (double)i), last.OrderBy(p => p.Value).Select(p => p.Key));
    }

    /// <summary>
    /// Publishes once the device's client is back. On a busy machine the writer can finish, and every record be acknowledged,
    /// before the last intruder takes the session, so the flush returns while the client is still reconnecting (or has not
    /// yet read the broker's takeover DISCONNECT): wait for its next Connected event and try again, bounded by the caller.
    /// </summary>
    private static async Task PublishOnceConnectedAsync(MqttDeviceClient client, string topic, byte[] payload)
    {
        while (true)
        {
            var reconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnConnected(object? sender, EventArgs e) => reconnected.TrySetResult();
            client.Connected += OnConnected;
            try
            {
                if (client.IsConnected)
                {
                    try { await client.PublishAsync(topic, payload); return; }
                    catch (IoTException) { } // not connected after all: the takeover landed between the check and the send
                }
                await reconnected.Task;
            }
            finally { client.Connected -= OnConnected; }
        }
    }

    /// <summary>Counts sends in flight at once, failed sends, and acknowledged records (and lets the test wait for a count).</summary>
    private sealed class CountingTransport(ITelemetryTransport inner) : ITelemetryTransport
    {
        private readonly Lock _lock = new();
        private int _inFlight, _mostInFlight, _failures, _sends;
        private long _acknowledged;
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TelemetryTransportLimits Limits => inner.Limits;

        public int MostInFlight { get { lock (_lock) return _mostInFlight; } }

        public int Failures { get { lock (_lock) return _failures; } }

        public int Sends { get { lock (_lock) return _sends; } }

        public async ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken)
        {
            lock (_lock)
            {
                _sends++;
                _mostInFlight = Math.Max(_mostInFlight, ++_inFlight);
            }
            bool ok = false;
            try
            {
                await inner.SendAsync(batch, cancellationToken);
                ok = true;
            }
            finally
            {
                TaskCompletionSource changed;
                lock (_lock)
                {
                    _inFlight--;
                    if (ok) _acknowledged += batch.RecordCount;
                    else _failures++;
                    changed = _changed;
                    _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                changed.TrySetResult();
            }
        }

        public bool IsTransient(Exception exception) => inner.IsTransient(exception);

        public async Task WaitForAcknowledgedAsync(long records, TimeSpan bound)
        {
            using var deadline = new CancellationTokenSource(bound);
            while (true)
            {
                Task next;
                lock (_lock)
                {
                    if (_acknowledged >= records) return;
                    next = _changed.Task;
                }
                await next.WaitAsync(deadline.Token);
            }
        }
    }
}
