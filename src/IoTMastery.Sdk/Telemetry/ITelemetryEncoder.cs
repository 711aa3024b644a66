using System.Buffers;

namespace IoTMastery.Sdk;

/// <summary>
/// Turns telemetry records into the bytes of one message. The pipeline writes
/// <see cref="BatchPrefix"/>, the records separated by <see cref="RecordSeparator"/>, then
/// <see cref="BatchSuffix"/>, so it knows every record's exact size and can pack billing units.
/// </summary>
/// <remarks>
/// Implementations must be stateless between calls and safe to call from several threads: the
/// pipeline may discard the bytes of the last <see cref="WriteRecord"/> call and re-encode the record.
/// </remarks>
internal interface ITelemetryEncoder
{
    /// <summary>Bytes that open a message (<c>[</c> for JSON). May be empty.</summary>
    ReadOnlySpan<byte> BatchPrefix { get; }

    /// <summary>Bytes written between two records (<c>,</c> for JSON). May be empty.</summary>
    ReadOnlySpan<byte> RecordSeparator { get; }

    /// <summary>Bytes that close a message (<c>]</c> for JSON). May be empty.</summary>
    ReadOnlySpan<byte> BatchSuffix { get; }

    /// <summary>Appends the encoding of one record to <paramref name="output"/>.</summary>
    void WriteRecord(IBufferWriter<byte> output, in TelemetryRecord record);
}
