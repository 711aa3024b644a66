using IoTMastery.Sdk.Tests.Telemetry;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Diagnostics;

/// <summary>Every telemetry pipeline instrument carries the transport's provider name, read through a real <c>MeterListener</c>.</summary>
public sealed class TelemetryMetricTagTests
{
    [Fact]
    public async Task Records_sent_carry_the_transport_s_provider_and_nothing_else()
    {
        // A name of its own, so pipelines of tests running alongside do not add to the sum.
        var provider = "test-provider-" + Guid.NewGuid().ToString("N")[..8];
        using var sent = new MeasurementRecorder("iotmastery.telemetry.records.sent");
        await using (var pipeline = new TelemetryPipeline(new NamedTransport(provider, new RecordingTransport()), new TelemetryPipelineOptions { MaxBatchRecords = 100 }))
        {
            for (int i = 0; i < 1_000; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));
            await pipeline.FlushAsync();
        }

        var points = sent.Measurements.Where(m => (string?)m.Tags.GetValueOrDefault("provider") == provider).ToList();
        Assert.Equal(1_000, points.Sum(m => m.Value));
        Assert.All(points, m => Assert.Equal(["provider"], m.Tags.Keys));
    }

    [Fact]
    public async Task A_transport_that_names_no_provider_leaves_the_tag_off()
    {
        using var sent = new MeasurementRecorder("iotmastery.telemetry.records.sent");
        var transport = new RecordingTransport();
        await using (var pipeline = new TelemetryPipeline(transport))
        {
            for (int i = 0; i < 10; i++) Assert.True(pipeline.TryWrite(Records.Make(i, "dev-untagged")));
            await pipeline.FlushAsync();
        }

        Assert.Null(((ITelemetryTransport)transport).Provider);
        Assert.Contains(sent.Measurements, m => m.Tags.Count == 0);
    }

    [Fact]
    public async Task Failures_retries_batches_bytes_and_send_durations_carry_the_provider()
    {
        var provider = "test-provider-" + Guid.NewGuid().ToString("N")[..8];
        using var failed = new MeasurementRecorder("iotmastery.telemetry.records.failed");
        using var retries = new MeasurementRecorder("iotmastery.telemetry.retries");
        using var batches = new MeasurementRecorder("iotmastery.telemetry.batches.sent");
        using var bytes = new MeasurementRecorder("iotmastery.telemetry.bytes.sent");
        using var durations = new MeasurementRecorder("iotmastery.telemetry.send.duration");
        // Attempt 1 fails transiently (retried), attempt 3 fails for good (its 100 records fail), the rest succeed.
        var transport = new RecordingTransport
        {
            Behavior = attempt => attempt switch { 1 => new TimeoutException("transient"), 3 => new InvalidOperationException("permanent"), _ => null },
        };
        var options = new TelemetryPipelineOptions { MaxBatchRecords = 100, RetryBaseDelay = TimeSpan.FromMilliseconds(1) };
        await using (var pipeline = new TelemetryPipeline(new NamedTransport(provider, transport), options))
        {
            for (int round = 0; round < 3; round++)
            {
                for (int i = 0; i < 100; i++) Assert.True(pipeline.TryWrite(Records.Make(round * 100 + i)));
                if (round == 1) await IoTAssert.ThrowsAsync(IoTErrorKind.Unknown, () => pipeline.FlushAsync());
                else await pipeline.FlushAsync();
            }
        }

        Assert.Equal(100, Tagged(failed, provider).Sum(m => m.Value));
        Assert.Equal(1, Tagged(retries, provider).Sum(m => m.Value));
        Assert.Equal(2, Tagged(batches, provider).Sum(m => m.Value));
        Assert.Equal(transport.Delivered.Sum(c => c.Payload.Length), Tagged(bytes, provider).Sum(m => m.Value));
        Assert.Equal(3, Tagged(durations, provider).Count);
    }

    [Fact]
    public async Task Queue_depth_and_drops_are_observed_per_provider_and_drops_outlive_the_pipeline()
    {
        var provider = "test-provider-" + Guid.NewGuid().ToString("N")[..8];
        using var depth = new MeasurementRecorder("iotmastery.telemetry.queue.depth");
        using var dropped = new MeasurementRecorder("iotmastery.telemetry.records.dropped");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transport = new RecordingTransport { Gate = gate.Task };
        // One record per batch, one batch queued and one in flight, held at the gate: the 10-record ring overflows.
        var options = new TelemetryPipelineOptions
        {
            Capacity = 10, Backpressure = BackpressureMode.DropOldest, MaxBatchRecords = 1, MaxPendingBatches = 1, MaxBatchesInFlight = 1,
        };
        long droppedWhileOpen;
        await using (var pipeline = new TelemetryPipeline(new NamedTransport(provider, transport), options))
        {
            for (int i = 0; i < 100; i++) Assert.True(pipeline.TryWrite(Records.Make(i)));
            depth.Collect();
            dropped.Collect();
            Assert.Equal(pipeline.PendingRecords, Tagged(depth, provider).Single().Value);
            droppedWhileOpen = pipeline.DroppedRecords;
            Assert.True(droppedWhileOpen > 0, "the held pipeline dropped nothing");
            Assert.Equal(droppedWhileOpen, Tagged(dropped, provider).Single().Value);
            gate.SetResult();
        }

        var before = dropped.Measurements.Count;
        dropped.Collect();
        depth.Collect();
        // Disposed: its drops still count under its provider (a counter never goes back); it has no queue any more.
        Assert.Equal(droppedWhileOpen, Tagged(dropped, provider).Skip(1).Single().Value);
        Assert.Single(Tagged(depth, provider));
        Assert.True(dropped.Measurements.Count > before);
    }

    private static List<(double Value, IReadOnlyDictionary<string, object?> Tags)> Tagged(MeasurementRecorder recorder, string provider) =>
        recorder.Measurements.Where(m => (string?)m.Tags.GetValueOrDefault("provider") == provider).ToList();

    private sealed class NamedTransport(string provider, ITelemetryTransport inner) : ITelemetryTransport
    {
        public TelemetryTransportLimits Limits => inner.Limits;

        public string Provider => provider;

        public ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken) => inner.SendAsync(batch, cancellationToken);

        public bool IsTransient(Exception exception) => inner.IsTransient(exception);
    }
}
