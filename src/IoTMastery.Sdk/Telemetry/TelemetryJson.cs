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
    /// becomes the record's <see cref="TelemetryRecord.Sequence"/> (the deduplication key of durable mode).
    /// </summary>
    /// <exception cref="FormatException">The payload is not a well-formed telemetry batch.</exception>
    public static List<TelemetryRecord> ReadBatch(ReadOnlySpan<byte> utf8Json)
    {
        var records = new List<TelemetryRecord>();
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 4 });
            Expect(ref reader, JsonTokenType.StartArray);
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                    throw new FormatException("Telemetry batch items must be objects.");
                string? device = null, metric = null;
                double? value = null;
                long? time = null, sequence = null;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    if (reader.TokenType != JsonTokenType.PropertyName)
                        throw new FormatException("Malformed telemetry record.");
                    if (reader.ValueTextEquals("d"u8)) { reader.Read(); device = reader.GetString(); }
                    else if (reader.ValueTextEquals("m"u8)) { reader.Read(); metric = reader.GetString(); }
                    else if (reader.ValueTextEquals("v"u8)) { reader.Read(); value = reader.GetDouble(); }
                    else if (reader.ValueTextEquals("t"u8)) { reader.Read(); time = reader.GetInt64(); }
                    else if (reader.ValueTextEquals("s"u8)) { reader.Read(); sequence = reader.GetInt64(); }
                    else { reader.Read(); reader.Skip(); }
                }
                if (device is null || metric is null || value is null || time is null)
                    throw new FormatException("A telemetry record lacks one of d, m, v, t.");
                if (sequence is <= 0) throw new FormatException("A telemetry record's s (sequence) must be positive.");
                records.Add(new TelemetryRecord(device, metric, value.Value, DateTimeOffset.FromUnixTimeMilliseconds(time.Value)) { Sequence = sequence });
            }
            if (reader.TokenType != JsonTokenType.EndArray)
                throw new FormatException("Telemetry batch is truncated.");
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
        {
            throw new FormatException($"Malformed telemetry batch: {ex.Message}", ex);
        }
        return records;
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type)
    {
        if (!reader.Read() || reader.TokenType != type)
            throw new FormatException($"Telemetry batch must start with {type}.");
    }
}
