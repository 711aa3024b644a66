using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using IoTMastery.Sdk.Diagnostics;

namespace IoTMastery.Sdk;

/// <summary>Telemetry pipeline instruments on the <c>IoTMastery.Sdk</c> meter; updated per batch, never per record.</summary>
internal static class TelemetryMetrics
{
    private static readonly ConcurrentDictionary<TelemetryPipeline, byte> Live = new();
    private static long s_droppedByDisposed;

    public static readonly Counter<long> RecordsSent = SdkMeter.Meter.CreateCounter<long>(
        IoTDiagnostics.TelemetryRecordsSent, "{record}", "Records acknowledged by the transport.");

    public static readonly Counter<long> RecordsFailed = SdkMeter.Meter.CreateCounter<long>(
        IoTDiagnostics.TelemetryRecordsFailed, "{record}", "Records that failed for good (permanent error, retries or time budget exhausted).");

    public static readonly Counter<long> BatchesSent = SdkMeter.Meter.CreateCounter<long>(
        IoTDiagnostics.TelemetryBatchesSent, "{batch}", "Batches acknowledged by the transport.");

    public static readonly Counter<long> BytesSent = SdkMeter.Meter.CreateCounter<long>(
        IoTDiagnostics.TelemetryBytesSent, "By", "Encoded bytes acknowledged by the transport.");

    public static readonly Counter<long> Retries = SdkMeter.Meter.CreateCounter<long>(
        IoTDiagnostics.TelemetryRetries, "{attempt}", "Batch send attempts after the first.");

    public static readonly Histogram<double> SendDuration = SdkMeter.Meter.CreateHistogram<double>(
        IoTDiagnostics.TelemetrySendDuration, "s", "Time to deliver or give up on one batch, retries included.");

    static TelemetryMetrics()
    {
        SdkMeter.Meter.CreateObservableUpDownCounter(IoTDiagnostics.TelemetryQueueDepth, ObserveDepth, "{record}",
            "Records accepted and not yet acknowledged, failed or dropped.");
        SdkMeter.Meter.CreateObservableCounter(IoTDiagnostics.TelemetryRecordsDropped, ObserveDropped, "{record}",
            "Records dropped by a full queue in DropOldest mode.");
    }

    public static void Register(TelemetryPipeline pipeline) => Live.TryAdd(pipeline, 0);

    public static void Unregister(TelemetryPipeline pipeline)
    {
        if (Live.TryRemove(pipeline, out _)) Interlocked.Add(ref s_droppedByDisposed, pipeline.DroppedRecords);
    }

    private static long ObserveDepth()
    {
        long total = 0;
        foreach (var pipeline in Live.Keys) total += pipeline.PendingRecords;
        return total;
    }

    private static long ObserveDropped()
    {
        long total = Interlocked.Read(ref s_droppedByDisposed);
        foreach (var pipeline in Live.Keys) total += pipeline.DroppedRecords;
        return total;
    }
}
