using System.Buffers;
using System.Text.Json;

namespace IoTMastery.Sdk;

/// <summary>
/// The default <see cref="ITelemetryEncoder"/>: the JSON array format of <see cref="TelemetryJson"/>,
/// byte for byte, so <see cref="TelemetryJson.ReadBatch"/> decodes what it writes.
/// </summary>
public sealed class TelemetryJsonEncoder : ITelemetryEncoder
{
    // One writer per thread, re-pointed at each output, so encoding allocates nothing per record.
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    private TelemetryJsonEncoder() { }

    /// <summary>The shared instance; the encoder holds no state.</summary>
    public static TelemetryJsonEncoder Instance { get; } = new();

    /// <inheritdoc />
    public ReadOnlySpan<byte> BatchPrefix => "["u8;

    /// <inheritdoc />
    public ReadOnlySpan<byte> RecordSeparator => ","u8;

    /// <inheritdoc />
    public ReadOnlySpan<byte> BatchSuffix => "]"u8;

    /// <inheritdoc />
    public void WriteRecord(IBufferWriter<byte> output, in TelemetryRecord record)
    {
        ArgumentNullException.ThrowIfNull(output);
        var writer = t_writer;
        if (writer is null)
            t_writer = writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        else
            writer.Reset(output);
        TelemetryJson.WriteRecord(writer, record);
        writer.Flush();
        // Let go of the caller's buffer so a thread-static writer does not keep it alive.
        writer.Reset(NullBufferWriter.Instance);
    }

    private sealed class NullBufferWriter : IBufferWriter<byte>
    {
        public static readonly NullBufferWriter Instance = new();
        public void Advance(int count) => throw new InvalidOperationException();
        public Memory<byte> GetMemory(int sizeHint = 0) => throw new InvalidOperationException();
        public Span<byte> GetSpan(int sizeHint = 0) => throw new InvalidOperationException();
    }
}
