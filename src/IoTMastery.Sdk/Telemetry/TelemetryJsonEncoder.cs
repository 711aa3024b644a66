using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace IoTMastery.Sdk;

/// <summary>
/// The default <see cref="ITelemetryEncoder"/>: the JSON array format of <see cref="TelemetryJson"/>,
/// byte for byte, so <see cref="TelemetryJson.ReadBatch"/> decodes what it writes.
/// </summary>
internal sealed class TelemetryJsonEncoder : ITelemetryEncoder
{
    // One writer per thread, re-pointed at each output, so encoding allocates nothing per record.
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    // ASCII that the default JavaScriptEncoder leaves alone (it escapes " \\ < > & ' + ` and controls).
    private static readonly SearchValues<char> PlainChars = SearchValues.Create(
        " !#$%()*,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_abcdefghijklmnopqrstuvwxyz{|}~");

    private readonly bool _includeSequence;

    private TelemetryJsonEncoder(bool includeSequence) => _includeSequence = includeSequence;

    /// <summary>The shared instance; writes no sequence numbers. The encoder holds no state.</summary>
    public static TelemetryJsonEncoder Instance { get; } = new(includeSequence: false);

    /// <summary>
    /// As <see cref="Instance"/>, plus <c>"s":sequence</c> on every record that has a <see cref="TelemetryRecord.Sequence"/>
    /// (every record of a durable pipeline), so consumers can deduplicate the at-least-once delivery per record.
    /// </summary>
    public static TelemetryJsonEncoder WithSequence { get; } = new(includeSequence: true);

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
        if (!TryWritePlain(output, record, _includeSequence)) WriteEscaped(output, record, _includeSequence);
    }

    // Fast path for names Utf8JsonWriter would copy verbatim; same bytes, a fraction of the cost.
    private static bool TryWritePlain(IBufferWriter<byte> output, in TelemetryRecord record, bool includeSequence)
    {
        string device = record.DeviceId, metric = record.Metric;
        if (device.AsSpan().ContainsAnyExcept(PlainChars) || metric.AsSpan().ContainsAnyExcept(PlainChars)) return false;
        var span = output.GetSpan(device.Length + metric.Length + 112);
        "{\"d\":\""u8.CopyTo(span);
        int at = 6;
        at += Encoding.ASCII.GetBytes(device, span[at..]);
        "\",\"m\":\""u8.CopyTo(span[at..]);
        at += 7;
        at += Encoding.ASCII.GetBytes(metric, span[at..]);
        "\",\"v\":"u8.CopyTo(span[at..]);
        at += 6;
        if (!record.Value.TryFormat(span[at..], out int written, default, CultureInfo.InvariantCulture)) return false;
        at += written;
        ",\"t\":"u8.CopyTo(span[at..]);
        at += 5;
        if (!record.Timestamp.ToUnixTimeMilliseconds().TryFormat(span[at..], out written, default, CultureInfo.InvariantCulture)) return false;
        at += written;
        if (includeSequence && record.Sequence is { } sequence)
        {
            ",\"s\":"u8.CopyTo(span[at..]);
            at += 5;
            if (!sequence.TryFormat(span[at..], out written, default, CultureInfo.InvariantCulture)) return false;
            at += written;
        }
        span[at++] = (byte)'}';
        output.Advance(at);
        return true;
    }

    private static void WriteEscaped(IBufferWriter<byte> output, in TelemetryRecord record, bool includeSequence)
    {
        var writer = t_writer;
        if (writer is null)
            t_writer = writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        else
            writer.Reset(output);
        TelemetryJson.WriteRecord(writer, record, includeSequence);
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
