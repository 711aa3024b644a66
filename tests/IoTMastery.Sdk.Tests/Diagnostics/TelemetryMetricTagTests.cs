using IoTMastery.Sdk.Tests.Telemetry;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Diagnostics;

/// <summary>The pipeline's <c>records.sent</c> counter carries the transport's provider name, read through a real <c>MeterListener</c>.</summary>
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

    private sealed class NamedTransport(string provider, ITelemetryTransport inner) : ITelemetryTransport
    {
        public TelemetryTransportLimits Limits => inner.Limits;

        public string Provider => provider;

        public ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken) => inner.SendAsync(batch, cancellationToken);

        public bool IsTransient(Exception exception) => inner.IsTransient(exception);
    }
}
