using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Json;

namespace IoTMastery.Sdk;

/// <summary>
/// The default <see cref="ITelemetryEncoder"/>: the JSON array format of <see cref="TelemetryJson"/>,
/// byte for byte, so <see cref="TelemetryJson.ReadBatch"/> decodes what it writes.
/// </summary>
internal sealed partial class TelemetryJsonEncoder : ITelemetryEncoder
{
    // One writer per thread, re-pointed at each output, so encoding allocates nothing per record.
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    // ASCII that the default JavaScriptEncoder leaves alone (it escapes " \\ < > & ' + ` and controls).
    private static readonly SearchValues<char> PlainChars = SearchValues.Create(
        " !#$%()*,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_abcdefghijklmnopqrstuvwxyz{|}~");

    private readonly bool _includeSequence;

    private TelemetryJsonEncoder(bool includeSequence) => _includeSequence = includeSequence;

    /// <summary>The shared instance; writes no sequence numbers. Safe on any thread: its only state is a per-thread cache of encoded names.</summary>
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

    /// <summary>
    /// The pipeline's entry (<see cref="TelemetryBatchBuilder"/>): writes the record separator when <paramref name="separator"/>
    /// is set, then the record, into the batch buffer directly. Same bytes as <see cref="RecordSeparator"/> followed by
    /// <c>WriteRecord(IBufferWriter, record)</c>; it saves the per-record interface calls (separator property, GetSpan, Advance) and the
    /// separate separator copy, which the e2e profile showed as a visible share of the pipeline's per-record CPU.
    /// </summary>
    /// <param name="output">The batch buffer.</param>
    /// <param name="record">The record.</param>
    /// <param name="separator">Whether a record precedes this one in the batch.</param>
    /// <param name="heads">The caller's own head cache (<see cref="NewHeadTable"/>); the caller uses it from one thread at a time.</param>
    internal void WriteRecord(PooledBufferWriter output, in TelemetryRecord record, bool separator, HeadTable heads)
    {
        var head = HeadFor(heads, record.DeviceId, record.Metric);
        if (head is not null)
        {
            // Separator, head, the longest double (24), ",\"t\":" and a long (25), ",\"s\":" and a long (25), "}".
            var span = output.GetSpan(head.Length + 81);
            int at = 0;
            if (separator) span[at++] = (byte)',';
            if (TryWritePlain(span[at..], head, heads, record, _includeSequence, out int written))
            {
                output.Advance(at + written);
                return;
            }
        }
        if (separator) output.Write(RecordSeparator);
        WriteEscaped(output, record, _includeSequence);
    }

    // Fast path for names Utf8JsonWriter would copy verbatim; same bytes, a fraction of the cost.
    private static bool TryWritePlain(IBufferWriter<byte> output, in TelemetryRecord record, bool includeSequence)
    {
        var heads = t_heads ??= new HeadTable();
        var head = HeadFor(heads, record.DeviceId, record.Metric);
        if (head is null) return false;
        // Head, the longest double (24), ",\"t\":" and a long (25), ",\"s\":" and a long (25), "}".
        var span = output.GetSpan(head.Length + 80);
        if (!TryWritePlain(span, head, heads, record, includeSequence, out int written)) return false;
        output.Advance(written);
        return true;
    }

    // Writes one record of plain names into span, which has room for head.Length + 80 bytes. The head and the timestamp
    // are copied as whole 16-byte blocks, which may write past the end of each part: the next part overwrites those bytes,
    // and the last write ('}') ends inside the room the caller reserved, so only the counted bytes are ever kept.
    private static bool TryWritePlain(Span<byte> span, Head head, HeadTable heads, in TelemetryRecord record, bool includeSequence, out int at)
    {
        at = 0;
        if (span.Length < head.Length + 80) return false;
        CopyBlocks(head.Bytes, ref MemoryMarshal.GetReference(span), head.Length);
        at = head.Length;
        if (!TryWriteShortDecimal(record.Value, span[at..], out int written) &&
            !record.Value.TryFormat(span[at..], out written, default, CultureInfo.InvariantCulture)) return false;
        at += written;
        if (!TryWriteTime(record.Timestamp.UtcTicks, span[at..], heads, out written)) return false;
        at += written;
        if (includeSequence && record.Sequence is { } sequence)
        {
            ",\"s\":"u8.CopyTo(span[at..]);
            at += 5;
            if (!sequence.TryFormat(span[at..], out written, default, CultureInfo.InvariantCulture)) return false;
            at += written;
        }
        span[at++] = (byte)'}';
        return true;
    }

    // Copies length bytes of source (whose array is padded to a multiple of 16) to destination as 16-byte blocks: the last
    // block may write up to 15 bytes past length, which the caller has room for. Two vector moves per typical head instead
    // of a call to Memmove and its size dispatch (the e2e profile showed Memmove under the builder's Add).
    private static void CopyBlocks(byte[] source, ref byte destination, int length)
    {
        ref byte from = ref MemoryMarshal.GetArrayDataReference(source);
        for (nuint i = 0; i < (nuint)length; i += 16)
            Vector128.LoadUnsafe(ref from, i).StoreUnsafe(ref destination, i);
    }

    // ---- the record head {"d":"<device>","m":"<metric>","v": of plain names, cached per thread ----
    // A stream repeats the same few device ids and metric names, so checking and copying them per record (two scans, two
    // transcodings, four literals) is mostly repeated work. A small per-thread table keyed on a cheap hash of both names
    // keeps the encoded head; a slot is reused in place, so producers that build a new string per record allocate nothing.

    private const int HeadSlots = 64;

    [ThreadStatic] private static HeadTable? t_heads;

    /// <summary>
    /// A head cache: the 64 slots, and the head used last, checked first by reference (a stream mostly repeats one name
    /// pair, and the check skips the slot hash). The pipeline's batch builder owns one, so its per-record lookup reads no
    /// thread-static (a TLS access the profile showed); everything else uses the calling thread's.
    /// </summary>
    internal sealed class HeadTable
    {
        public readonly Head?[] Slots = new Head?[HeadSlots];
        public Head? Last;

        // The last timestamp written at or after 1970-01-01T00:00:01Z: ",\"t\":" and its digits (at most 5 + 19 bytes, padded
        // to two 16-byte blocks), and the UTC tick its second starts at (long.MinValue: none yet, never within 10^7 ticks of any).
        public readonly byte[] Time = new byte[32];
        public int TimeLength;
        public long TimeTicks = long.MinValue;
    }

    /// <summary>A head cache for one user at a time, for <see cref="WriteRecord(PooledBufferWriter, in TelemetryRecord, bool, HeadTable)"/>.</summary>
    internal static HeadTable NewHeadTable() => new();

    internal sealed class Head
    {
        public string Device = "";
        public string Metric = "";
        public byte[] Bytes = [];
        public int Length;
    }

    /// <summary>
    /// Writes <c>,"t":</c> and the Unix milliseconds of <paramref name="utcTicks"/> (a <see cref="DateTimeOffset.UtcTicks"/>), exactly as
    /// <c>",\"t\":"</c> followed by <c>ToUnixTimeMilliseconds().TryFormat</c> (invariant) would. A stream's timestamps mostly share
    /// their second with the record before, and then only the last three digits change: the literal and the second's digits
    /// are copied from the table as two 16-byte blocks and the three digits written from the ticks within the second, instead of
    /// deriving the milliseconds (two divisions) and formatting all 13 digits per record. Needs 32 bytes of room for the fast path.
    /// </summary>
    /// <remarks>
    /// Why the bytes are the same: the cached second starts at a whole second (a multiple of 10^7 ticks, as the Unix epoch is),
    /// at least one second after the epoch; a tick t in [start, start + 10^7) has milliseconds m = (start − epoch) / 10^4 +
    /// (t − start) / 10^4 with the second part below 1000, so m's decimal digits are those of the cached second's value / 1000
    /// followed by the three digits of (t − start) / 10^4, zero-padded.
    /// </remarks>
    internal static bool TryWriteTime(long utcTicks, Span<byte> span, HeadTable table, out int written)
    {
        ulong withinSecond = (ulong)(utcTicks - table.TimeTicks);
        if (withinSecond < TimeSpan.TicksPerSecond && span.Length >= 32)
        {
            ref byte from = ref MemoryMarshal.GetArrayDataReference(table.Time);
            ref byte to = ref MemoryMarshal.GetReference(span);
            int length = table.TimeLength;
            Vector128.LoadUnsafe(ref from).StoreUnsafe(ref to);
            if (length > 16) Vector128.LoadUnsafe(ref from, 16).StoreUnsafe(ref to, 16);
            uint rest = (uint)withinSecond / (uint)TimeSpan.TicksPerMillisecond;
            uint hundreds = rest / 100, tens = rest / 10 - hundreds * 10;
            Unsafe.Add(ref to, length - 3) = (byte)('0' + hundreds);
            Unsafe.Add(ref to, length - 2) = (byte)('0' + tens);
            Unsafe.Add(ref to, length - 1) = (byte)('0' + (rest - rest / 10 * 10));
            written = length;
            return true;
        }
        written = 0;
        if (span.Length < 5) return false;
        ",\"t\":"u8.CopyTo(span);
        long milliseconds = utcTicks / TimeSpan.TicksPerMillisecond - UnixEpochMilliseconds;
        if (!milliseconds.TryFormat(span[5..], out int digits, default, CultureInfo.InvariantCulture)) return false;
        written = 5 + digits;
        if (milliseconds >= 1000)
        {
            span[..written].CopyTo(table.Time);
            table.TimeLength = written;
            table.TimeTicks = (milliseconds - milliseconds % 1000 + UnixEpochMilliseconds) * TimeSpan.TicksPerMillisecond;
        }
        return true;
    }

    // DateTimeOffset.UnixEpoch in milliseconds since 0001-01-01, as ToUnixTimeMilliseconds subtracts it.
    private const long UnixEpochMilliseconds = 62_135_596_800_000;

    // A slot reused in place changes its names too, so the reference check on Last stays right; one user at a time per table.
    private static Head? HeadFor(HeadTable table, string device, string metric)
    {
        var last = table.Last;
        if (last is not null && ReferenceEquals(last.Device, device) && ReferenceEquals(last.Metric, metric)) return last;
        var heads = table.Slots;
        // Names are never empty (the record's constructor checks), so the first and last characters exist.
        int slot = (device.Length * 31 + device[^1] * 7 + (device.Length > 1 ? device[^2] * 131 : 0) + metric.Length * 17 + metric[^1] + metric[0] * 3) & (HeadSlots - 1);
        var head = heads[slot];
        if (head is not null && string.Equals(head.Device, device) && string.Equals(head.Metric, metric)) return table.Last = head;
        if (device.AsSpan().ContainsAnyExcept(PlainChars) || metric.AsSpan().ContainsAnyExcept(PlainChars)) return null;
        head ??= heads[slot] = new Head();
        int length = 13 + device.Length + metric.Length + 6;
        // Padded to whole 16-byte blocks: CopyBlocks reads the head that way.
        if (head.Bytes.Length < (length + 15 & ~15)) head.Bytes = new byte[Math.Max(length + 15 & ~15, 64)];
        var span = head.Bytes.AsSpan();
        "{\"d\":\""u8.CopyTo(span);
        int at = 6;
        at += Encoding.ASCII.GetBytes(device, span[at..]);
        "\",\"m\":\""u8.CopyTo(span[at..]);
        at += 7;
        at += Encoding.ASCII.GetBytes(metric, span[at..]);
        "\",\"v\":"u8.CopyTo(span[at..]);
        at += 6;
        head.Length = at;
        head.Device = device;
        head.Metric = metric;
        return table.Last = head;
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
