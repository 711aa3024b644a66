using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using IoTMastery.Sdk.Diagnostics;

namespace IoTMastery.Sdk;

/// <summary>
/// Telemetry pipeline instruments on the <c>IoTMastery.Sdk</c> meter; updated per batch, never per record. Every
/// measurement carries the <c>provider</c> tag of its pipeline's transport (none when the transport names no provider),
/// so an application sending to two clouds sees each cloud's failures, retries and queue on their own.
/// </summary>
internal static class TelemetryMetrics
{
    private static readonly ConcurrentDictionary<TelemetryPipeline, byte> Live = new();
    // Drops counted by pipelines already disposed, per provider ("" for none), so the observable counter never goes back.
    private static readonly ConcurrentDictionary<string, long> DroppedByDisposed = new(StringComparer.Ordinal);

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
        if (Live.TryRemove(pipeline, out _))
        {
            long dropped = pipeline.DroppedRecords;
            DroppedByDisposed.AddOrUpdate(pipeline.Provider ?? "", dropped, (_, total) => total + dropped);
        }
    }

    /// <summary>The tags of a pipeline's measurements: its transport's provider, or none.</summary>
    public static KeyValuePair<string, object?>[] TagsFor(string? provider) =>
        provider is null ? [] : [new(SdkInstruments.ProviderTag, provider)];

    // Observed only when a collector asks (seconds apart), so grouping here costs nothing on the send path.
    private static IEnumerable<Measurement<long>> ObserveDepth() =>
        SumByProvider(static pipeline => pipeline.PendingRecords, seed: null);

    private static IEnumerable<Measurement<long>> ObserveDropped() =>
        SumByProvider(static pipeline => pipeline.DroppedRecords, seed: DroppedByDisposed);

    private static List<Measurement<long>> SumByProvider(Func<TelemetryPipeline, long> value, ConcurrentDictionary<string, long>? seed)
    {
        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        if (seed is not null) foreach (var (provider, total) in seed) totals[provider] = total;
        foreach (var pipeline in Live.Keys)
        {
            var provider = pipeline.Provider ?? "";
            totals[provider] = totals.GetValueOrDefault(provider) + value(pipeline);
        }
        var measurements = new List<Measurement<long>>(totals.Count);
        foreach (var (provider, total) in totals) measurements.Add(new Measurement<long>(total, TagsFor(provider.Length == 0 ? null : provider)));
        return measurements;
    }
}
