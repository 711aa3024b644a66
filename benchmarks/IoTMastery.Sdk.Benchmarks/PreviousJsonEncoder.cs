using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// The default encoder as it was before issue #18's encoding work (names checked and transcoded per record, values through
/// <c>double.TryFormat</c>), kept as a baseline row so the e2e smoke shows that change as a ratio measured in the same run.
/// Same bytes as <see cref="TelemetryJsonEncoder.Instance"/>.
/// </summary>
internal sealed class PreviousJsonEncoder : ITelemetryEncoder
{
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    private static readonly SearchValues<char> PlainChars = SearchValues.Create(
        " !#$%()*,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_abcdefghijklmnopqrstuvwxyz{|}~");

    public static PreviousJsonEncoder Instance { get; } = new();

    public ReadOnlySpan<byte> BatchPrefix => "["u8;

    public ReadOnlySpan<byte> RecordSeparator => ","u8;

    public ReadOnlySpan<byte> BatchSuffix => "]"u8;

    public void WriteRecord(IBufferWriter<byte> output, in TelemetryRecord record)
    {
        if (!TryWritePlain(output, record)) WriteEscaped(output, record);
    }

    private static bool TryWritePlain(IBufferWriter<byte> output, in TelemetryRecord record)
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
        span[at++] = (byte)'}';
        output.Advance(at);
        return true;
    }

    private static void WriteEscaped(IBufferWriter<byte> output, in TelemetryRecord record)
    {
        var writer = t_writer;
        if (writer is null)
            t_writer = writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        else
            writer.Reset(output);
        writer.WriteStartObject();
        writer.WriteString("d"u8, record.DeviceId);
        writer.WriteString("m"u8, record.Metric);
        writer.WriteNumber("v"u8, record.Value);
        writer.WriteNumber("t"u8, record.Timestamp.ToUnixTimeMilliseconds());
        writer.WriteEndObject();
        writer.Flush();
        writer.Reset(Stream.Null);
    }
}
