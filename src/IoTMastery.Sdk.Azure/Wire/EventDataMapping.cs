using Azure.Messaging.EventHubs;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Turns an event from the hub's built-in endpoint into telemetry records. The device id comes from the system property
/// <c>iothub-connection-device-id</c> the hub stamps on every message, never from the body, so a device cannot speak for another.
/// </summary>
internal static class EventDataMapping
{
    public const string DeviceIdProperty = "iothub-connection-device-id";

    /// <summary>The records in <paramref name="eventData"/>; empty (and <paramref name="problem"/> set) when it is not a telemetry batch.</summary>
    public static IReadOnlyList<TelemetryRecord> ToRecords(EventData eventData, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(eventData);
        problem = null;
        if (!eventData.SystemProperties.TryGetValue(DeviceIdProperty, out var idValue) || idValue?.ToString() is not { Length: > 0 } deviceId)
        {
            problem = "the event has no iothub-connection-device-id system property";
            return [];
        }
        var body = eventData.EventBody.ToMemory().Span;
        List<TelemetryRecord> decoded;
        try
        {
            // One record alone is sent as a one-element array; accept a bare object too.
            decoded = body.Length > 0 && body[0] == (byte)'{'
                ? TelemetryJson.ReadBatch([(byte)'[', .. body, (byte)']'])
                : TelemetryJson.ReadBatch(body);
        }
        catch (FormatException ex)
        {
            // The JSON reader's own messages quote the offending bytes ("'…' is an invalid JSON literal"), so only the
            // batch-level reasons are passed on: a device's payload must not reach the logs.
            problem = ex.InnerException is null
                ? "the body is not a telemetry batch: " + ex.Message
                : $"the body ({body.Length} bytes) is not telemetry JSON";
            return [];
        }
        var records = new List<TelemetryRecord>(decoded.Count);
        foreach (var r in decoded)
            records.Add(new TelemetryRecord(deviceId, r.Metric, r.Value, r.Timestamp));
        return records;
    }
}
