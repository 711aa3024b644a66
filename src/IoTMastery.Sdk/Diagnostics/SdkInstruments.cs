using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace IoTMastery.Sdk.Diagnostics;

/// <summary>The SDK's instruments beyond the telemetry pipeline's (<c>TelemetryMetrics</c>) and the HTTP retry counter.</summary>
internal static class SdkInstruments
{
    private static readonly ConcurrentDictionary<TelemetryOutbox, byte> LiveOutboxes = new();

    /// <summary>The metric tag naming the provider, the same key <see cref="IoTDiagnostics.HttpRetries"/> has always used.</summary>
    public const string ProviderTag = "provider";

    /// <summary>The metric tag saying how a command ended.</summary>
    public const string OutcomeTag = "outcome";

    public static readonly Histogram<double> CommandDuration = SdkMeter.Meter.CreateHistogram<double>(
        IoTDiagnostics.CommandDuration, "ms", "Time from a fleet-side command call to the device's reply or the failure.");

    public static readonly Counter<long> Reconnects = SdkMeter.Meter.CreateCounter<long>(
        IoTDiagnostics.Reconnects, "{reconnect}", "MQTT connections re-established after a drop.");

    // Up-down counters, not gauges: bytes and pending records add up across outboxes (as OpenTelemetry's usage metrics do).
    static SdkInstruments()
    {
        SdkMeter.Meter.CreateObservableUpDownCounter(IoTDiagnostics.OutboxBytes, static () => Sum(static o => o.DiskBytes), "By",
            "Bytes held by the segment files of the open telemetry outboxes.");
        SdkMeter.Meter.CreateObservableUpDownCounter(IoTDiagnostics.OutboxRecords, static () => Sum(static o => o.PendingCount), "{record}",
            "Records in the open telemetry outboxes that are accepted and not yet acknowledged.");
    }

    /// <summary>Counts one MQTT connection re-established after a drop.</summary>
    public static void CountReconnect(string provider) => Reconnects.Add(1, new KeyValuePair<string, object?>(ProviderTag, provider));

    /// <summary>The outcome tag value for a command that ended with <paramref name="exception"/>, or <c>success</c>.</summary>
    public static string CommandOutcome(Exception? exception) => exception switch
    {
        null => "success",
        IoTException { Kind: IoTErrorKind.CommandTimeout } => "timeout",
        IoTException { Kind: IoTErrorKind.DeviceOffline } => "device_offline",
        IoTException { Kind: IoTErrorKind.DeviceNotFound } => "device_not_found",
        ArgumentException => "invalid_argument",
        OperationCanceledException => "cancelled",
        _ => "error",
    };

    /// <summary>Counts an open outbox in the outbox observations until <see cref="Untrack"/>.</summary>
    public static void Track(TelemetryOutbox outbox) => LiveOutboxes.TryAdd(outbox, 0);

    /// <summary>Stops counting a disposed outbox.</summary>
    public static void Untrack(TelemetryOutbox outbox) => LiveOutboxes.TryRemove(outbox, out _);

    private static long Sum(Func<TelemetryOutbox, long> read)
    {
        long total = 0;
        foreach (var outbox in LiveOutboxes.Keys)
        {
            try
            {
                total += read(outbox);
            }
            catch (ObjectDisposedException)
            {
                // Disposed between the snapshot and the read: it holds nothing any more.
            }
        }
        return total;
    }
}
