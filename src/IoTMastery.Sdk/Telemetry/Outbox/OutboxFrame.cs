using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace IoTMastery.Sdk;

/// <summary>
/// The on-disk framing of one record:
/// <c>[u32 payloadLength][i64 sequence][payload][u32 crc32(length, sequence, payload)]</c>, little-endian.
/// Payload: <c>[u16 n][deviceId UTF-8][u16 n][metric UTF-8][f64 value][i64 UTC ticks][i16 offset minutes]</c>, then
/// <c>[i64 record sequence]</c> only when the record carries a <see cref="TelemetryRecord.Sequence"/> (a broker-side journal
/// keeps the device's deduplication key); frames of records without one are unchanged.
/// </summary>
internal static class OutboxFrame
{
    /// <summary>Length prefix plus sequence number.</summary>
    public const int HeaderBytes = 12;

    /// <summary>Header plus trailing CRC.</summary>
    public const int OverheadBytes = HeaderBytes + 4;

    /// <summary>Fixed-size payload fields: two length prefixes, value, ticks, offset.</summary>
    private const int FixedPayloadBytes = 2 + 2 + 8 + 8 + 2;

    /// <summary>The optional trailing field: the record's own <see cref="TelemetryRecord.Sequence"/>.</summary>
    private const int RecordSequenceBytes = 8;

    /// <summary>Largest payload a valid frame can carry; anything above is a torn or corrupt length.</summary>
    public const int MaxPayloadBytes = FixedPayloadBytes + RecordSequenceBytes + ushort.MaxValue * 2;

    /// <summary>Upper bound of a record's frame size, for sizing the encode buffer before encoding.</summary>
    public static int MaxFrameBytes(in TelemetryRecord record)
        => OverheadBytes + FixedPayloadBytes + RecordSequenceBytes + Encoding.UTF8.GetMaxByteCount(record.DeviceId.Length) + Encoding.UTF8.GetMaxByteCount(record.Metric.Length);

    /// <summary>Encodes <paramref name="record"/> with <paramref name="sequence"/> into <paramref name="destination"/>; returns the frame length.</summary>
    public static int Write(Span<byte> destination, long sequence, in TelemetryRecord record)
    {
        var payload = destination[HeaderBytes..];
        int p = WriteString(payload, record.DeviceId, nameof(record.DeviceId));
        p += WriteString(payload[p..], record.Metric, nameof(record.Metric));
        BinaryPrimitives.WriteDoubleLittleEndian(payload[p..], record.Value);
        BinaryPrimitives.WriteInt64LittleEndian(payload[(p + 8)..], record.Timestamp.UtcTicks);
        BinaryPrimitives.WriteInt16LittleEndian(payload[(p + 16)..], (short)record.Timestamp.TotalOffsetMinutes);
        int payloadLength = p + 18;
        if (record.Sequence is { } recordSequence)
        {
            BinaryPrimitives.WriteInt64LittleEndian(payload[payloadLength..], recordSequence);
            payloadLength += RecordSequenceBytes;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)payloadLength);
        BinaryPrimitives.WriteInt64LittleEndian(destination[4..], sequence);
        int crcAt = HeaderBytes + payloadLength;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[crcAt..], Crc32.HashToUInt32(destination[..crcAt]));
        return crcAt + 4;
    }

    /// <summary>Reads the payload length of the frame starting at <paramref name="frame"/>; -1 when it cannot be a valid frame.</summary>
    public static int FrameLength(ReadOnlySpan<byte> frame)
    {
        uint payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(frame);
        return payloadLength is < FixedPayloadBytes or > MaxPayloadBytes ? -1 : (int)payloadLength + OverheadBytes;
    }

    /// <summary>The sequence number of a frame.</summary>
    public static long Sequence(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadInt64LittleEndian(frame[4..]);

    /// <summary>Whether the trailing CRC of a complete frame matches its contents.</summary>
    public static bool IsIntact(ReadOnlySpan<byte> frame)
    {
        int crcAt = frame.Length - 4;
        return BinaryPrimitives.ReadUInt32LittleEndian(frame[crcAt..]) == Crc32.HashToUInt32(frame[..crcAt]);
    }

    /// <summary>Decodes the record of a complete, intact frame.</summary>
    /// <param name="frame">The frame, length prefix to CRC.</param>
    /// <param name="names">When set, supplies the device id and metric strings from its interning tables (<see cref="TelemetryBatchDecoder.NameFromUtf8"/>), so repeated names allocate nothing.</param>
    /// <exception cref="InvalidDataException">The frame's CRC matches but its payload is inconsistent (a writer bug or a CRC collision).</exception>
    public static TelemetryRecord Decode(ReadOnlySpan<byte> frame, TelemetryBatchDecoder? names = null)
    {
        try
        {
            var payload = frame[HeaderBytes..^4];
            int p = 0;
            string deviceId = ReadString(payload, ref p, names);
            string metric = ReadString(payload, ref p, names);
            int rest = payload.Length - p;
            if (rest != 18 && rest != 18 + RecordSequenceBytes) throw new InvalidDataException("An outbox frame's payload length disagrees with its fields.");
            double value = BinaryPrimitives.ReadDoubleLittleEndian(payload[p..]);
            long utcTicks = BinaryPrimitives.ReadInt64LittleEndian(payload[(p + 8)..]);
            var offset = TimeSpan.FromMinutes(BinaryPrimitives.ReadInt16LittleEndian(payload[(p + 16)..]));
            var timestamp = new DateTimeOffset(utcTicks + offset.Ticks, offset);
            var record = new TelemetryRecord(deviceId, metric, value, timestamp);
            return rest == 18 ? record : record with { Sequence = BinaryPrimitives.ReadInt64LittleEndian(payload[(p + 18)..]) };
        }
        // Only a frame that passed the CRC gets here, so a bad field is corruption, reported as such rather than as a caller error.
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"An outbox frame passed its CRC check but does not decode: {ex.Message}", ex);
        }
    }

    private static int WriteString(Span<byte> destination, string value, string field)
    {
        int length = Encoding.UTF8.GetBytes(value, destination[2..]);
        if (length > ushort.MaxValue)
            throw new ArgumentException($"The outbox stores {field} values of at most {ushort.MaxValue} UTF-8 bytes; got {length}.", field);
        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)length);
        return 2 + length;
    }

    private static string ReadString(ReadOnlySpan<byte> payload, ref int position, TelemetryBatchDecoder? names)
    {
        int length = BinaryPrimitives.ReadUInt16LittleEndian(payload[position..]);
        if (position + 2 + length > payload.Length) throw new InvalidDataException("An outbox frame's string length runs past its payload.");
        var utf8 = payload.Slice(position + 2, length);
        string value = names is null ? Encoding.UTF8.GetString(utf8) : names.NameFromUtf8(utf8);
        position += 2 + length;
        return value;
    }
}
