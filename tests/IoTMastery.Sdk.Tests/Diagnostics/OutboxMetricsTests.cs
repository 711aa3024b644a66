using IoTMastery.Sdk.Tests.Telemetry;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Diagnostics;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeterSumsCollection
{
    // Alone: these instruments sum over every open outbox of the process, so another test's outbox would move the figures.
    public const string Name = "Process-wide meter sums";
}

/// <summary>The outbox's bytes and pending records, read through a real <c>MeterListener</c> as an exporter reads them.</summary>
[Collection(MeterSumsCollection.Name)]
public sealed class OutboxMetricsTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "iotm-outbox-metrics-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Open_outboxes_report_their_bytes_and_pending_records_until_disposed()
    {
        using var bytes = new MeasurementRecorder("iotmastery.outbox.bytes");
        using var records = new MeasurementRecorder("iotmastery.outbox.records");
        var (bytesBefore, recordsBefore) = Observe(bytes, records);

        using (var outbox = TelemetryOutbox.Open(new TelemetryOutboxOptions { Directory = _directory, FsyncInterval = null }))
        {
            for (var i = 0; i < 10; i++) outbox.Append(Records.Make(i));
            var (bytesOpen, recordsOpen) = Observe(bytes, records);
            Assert.Equal(10, recordsOpen - recordsBefore);
            Assert.Equal(outbox.DiskBytes, bytesOpen - bytesBefore);
            Assert.True(outbox.DiskBytes > 0);

            outbox.Acknowledge(4);
            Assert.Equal(6, Observe(bytes, records).Records - recordsBefore);
        }

        Assert.Equal((bytesBefore, recordsBefore), Observe(bytes, records));
    }

    private static (double Bytes, double Records) Observe(MeasurementRecorder bytes, MeasurementRecorder records)
    {
        bytes.Collect();
        records.Collect();
        return (bytes.Measurements.Count == 0 ? 0 : bytes.Measurements[^1].Value, records.Measurements.Count == 0 ? 0 : records.Measurements[^1].Value);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }
}
