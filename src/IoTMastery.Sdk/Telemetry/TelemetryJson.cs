using System.Buffers;
using System.Text.Json;

namespace IoTMastery.Sdk;

/// <summary>
/// The default telemetry wire format: a JSON array of <c>{"d":deviceId,"m":metric,"v":value,"t":unixMilliseconds}</c>,
/// plus <c>"s":sequence</c> when a record carries its outbox <see cref="TelemetryRecord.Sequence"/> and the encoder is
/// configured to write it (<see cref="TelemetryJsonEncoder.WithSequence"/>). Short keys because every byte counts against billing units.
/// </summary>
internal static class TelemetryJson
{
    /// <summary>Writes one record as a JSON object, with <c>"s"</c> when the record has a <see cref="TelemetryRecord.Sequence"/>.</summary>
    public static void WriteRecord(Utf8JsonWriter writer, in TelemetryRecord record) => WriteRecord(writer, record, includeSequence: true);

    internal static void WriteRecord(Utf8JsonWriter writer, in TelemetryRecord record, bool includeSequence)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        writer.WriteString("d"u8, record.DeviceId);
        writer.WriteString("m"u8, record.Metric);
        writer.WriteNumber("v"u8, record.Value);
        writer.WriteNumber("t"u8, record.Timestamp.ToUnixTimeMilliseconds());
        if (includeSequence && record.Sequence is { } sequence) writer.WriteNumber("s"u8, sequence);
        writer.WriteEndObject();
    }

    /// <summary>Encodes records as one JSON array into <paramref name="output"/>.</summary>
    public static void WriteBatch(IBufferWriter<byte> output, ReadOnlySpan<TelemetryRecord> records)
    {
        using var writer = new Utf8JsonWriter(output);
        writer.WriteStartArray();
        foreach (ref readonly var record in records)
            WriteRecord(writer, record);
        writer.WriteEndArray();
    }

    /// <summary>
    /// Decodes a batch written by <see cref="WriteBatch"/> or <see cref="TelemetryJsonEncoder"/>; an <c>"s"</c> field
    /// becomes the record's <see cref="TelemetryRecord.Sequence"/> (the deduplication key of durable mode). Allocates a new
    /// list per call; readers of many batches use <see cref="TelemetryRecord.DecodeBatch(ReadOnlySpan{byte}, List{TelemetryRecord})"/> with a reused list instead.
    /// </summary>
    /// <exception cref="FormatException">The payload is not a well-formed telemetry batch.</exception>
    public static List<TelemetryRecord> ReadBatch(ReadOnlySpan<byte> utf8Json)
    {
        var records = new List<TelemetryRecord>();
        TelemetryRecord.DecodeBatch(utf8Json, records);
        return records;
    }
}
