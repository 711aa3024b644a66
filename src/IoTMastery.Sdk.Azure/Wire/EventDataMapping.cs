using Azure.Messaging.EventHubs;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Turns an event from the hub's built-in endpoint into telemetry records. The device id comes from the system property
/// <c>iothub-connection-device-id</c> the hub stamps on every message, never from the body, so a device cannot speak for another.
/// </summary>
internal static class EventDataMapping
{
    public const string DeviceIdProperty = "iothub-connection-device-id";

    /// <summary>The system property naming what produced the event; device-to-cloud messages carry <see cref="TelemetrySource"/>.</summary>
    public const string SourceProperty = "iothub-message-source";

    public const string TelemetrySource = "Telemetry";

    /// <summary>The records in <paramref name="eventData"/>; empty (and <paramref name="problem"/> set) when it is not a telemetry batch.</summary>
    public static IReadOnlyList<TelemetryRecord> ToRecords(EventData eventData, out string? problem)
    {
        var records = new List<TelemetryRecord>();
        ToRecords(eventData, records, out problem);
        return records;
    }

    /// <summary>
    /// Appends the records in <paramref name="eventData"/> to <paramref name="output"/> (a list the reader reuses, so a steady
    /// stream allocates nothing per record); appends nothing and sets <paramref name="problem"/> when it is not a telemetry batch.
    /// An event the hub marks as another source (connection-state, twin or lifecycle events routed to the same endpoint) is
    /// expected there, not a problem: it yields nothing and leaves <paramref name="problem"/> null.
    /// </summary>
    public static void ToRecords(EventData eventData, List<TelemetryRecord> output, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(eventData);
        problem = null;
        // Absent (an older hub or a hand-built event) reads as telemetry; only a named other source is passed over.
        if (eventData.SystemProperties.TryGetValue(SourceProperty, out var source) && source is string named
            && !string.Equals(named, TelemetrySource, StringComparison.OrdinalIgnoreCase))
            return;
        if (!eventData.SystemProperties.TryGetValue(DeviceIdProperty, out var idValue) || idValue?.ToString() is not { Length: > 0 } deviceId)
        {
            problem = "the event has no iothub-connection-device-id system property";
            return;
        }
        var body = eventData.EventBody.ToMemory().Span;
        int first = output.Count;
        try
        {
            // One record alone is sent as a one-element array; a bare object is accepted too.
            TelemetryBatchDecoder.Shared.DecodeArrayOrObject(body, output);
        }
        catch (FormatException ex)
        {
            // The decoder's messages name the reason and the byte offset, never the payload's bytes.
            problem = $"the body ({body.Length} bytes) is not a telemetry batch: {ex.Message}";
            return;
        }
        for (int i = first; i < output.Count; i++)
        {
            var r = output[i];
            output[i] = new TelemetryRecord(deviceId, r.Metric, r.Value, r.Timestamp);
        }
    }
}
