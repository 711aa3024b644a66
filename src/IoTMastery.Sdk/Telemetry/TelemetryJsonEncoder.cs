using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
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
internal sealed class TelemetryJsonEncoder : ITelemetryEncoder
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

    // ---- values with few decimals, which most sensor readings are ----

    private static readonly double[] Pow10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6];

    // 2^30: below it TryWriteShortDecimal scales once by 10^6 (see there); larger values take the loop over k.
    private const double SingleScaleLimit = 1073741824.0;

    /// <summary>
    /// Writes <paramref name="value"/> exactly as <c>double.TryFormat</c> (invariant, shortest round-trip) would, when it
    /// is <c>m / 10^k</c> for an integer <c>m</c> below 10^15 and <c>k</c> at most 6, or when 1 ≤ |value| &lt; 2^30 (see
    /// <see cref="TryWriteLongDecimal"/>); false otherwise (the caller formats it).
    /// </summary>
    /// <remarks>
    /// Why the bytes are the same: <c>m / 10^k</c> in double arithmetic is correctly rounded, so when it equals the value,
    /// the decimal m·10^-k parses back to it; no decimal with fewer places does (the smallest <c>k</c> is taken, and below
    /// 10^15 a round-trip candidate with a given number of places is unique), so it is the shortest round-trip string,
    /// the one .NET prints. Fixed notation only: magnitudes from 10^-4 up to below 10^14, where .NET prints fixed too.
    /// </remarks>
    internal static bool TryWriteShortDecimal(double value, Span<byte> span, out int written)
    {
        written = 0;
        double magnitude = Math.Abs(value);
        if (!(magnitude >= 1e-4 && magnitude < 1e14)) return false;
        if (magnitude < SingleScaleLimit)
        {
            // One scaling instead of up to seven round-and-divide steps (the e2e profile showed the loop, and most of all
            // its seven failed steps before double.TryFormat for values with long mantissas). Below 2^30 the value's ulp
            // is under 10^-6 and magnitude·10^6 is within 0.19 of the true m·10^(6-k), so: if any m / 10^k (k ≤ 6)
            // equals the value, Math.Round(magnitude·10^6) is exactly m·10^(6-k); that decimal is the only one of at
            // most 6 places that rounds to the value, and removing its trailing zeros gives the smallest k, the same
            // m and k the loop below finds. If the scaled check fails, no k ≤ 6 works and double.TryFormat takes it.
            double scaled = Math.Round(magnitude * 1e6);
            if (scaled / 1e6 != magnitude) return magnitude >= 1 && TryWriteLongDecimal(value, magnitude, span, out written);
            return WriteMicros((ulong)scaled, value < 0, span, out written);
        }
        var pow10 = Pow10;
        for (int k = 0; k < pow10.Length; k++)
        {
            double scaled = Math.Round(magnitude * pow10[k]);
            if (scaled >= 1e15) return false;
            if (scaled / pow10[k] != magnitude) continue;
            return WriteFixed((ulong)scaled, k, value < 0, span, out written);
        }
        return false;
    }

    private static readonly ulong[] Pow10Integers =
    [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000,
        100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000, 1_000_000_000_000_000,
        10_000_000_000_000_000,
    ];

    /// <summary>
    /// For 1 ≤ |value| &lt; 2^30 with more than 6 decimals (in the e2e data, the readings like 20 + 7 / 100.0 that land one ulp
    /// off a short decimal and print with 17 digits): writes the shortest round-trip decimal, as <c>double.TryFormat</c>
    /// does, in exact integer arithmetic; false (the caller formats it) when a tie or an interval edge makes the choice
    /// depend on rounding rules.
    /// </summary>
    /// <remarks>
    /// The value is M / 2^s exactly (M the 53-bit significand). For p decimals, the closest p-place decimal is N / 10^p with
    /// N = M·10^p / 2^s rounded to nearest (M·10^p &lt; 2^107, so it is exact in 128 bits). It parses back to the value iff it
    /// lies strictly inside the value's rounding interval, |N·2^s − M·10^p| &lt; 10^p / 2; if the closest p-place decimal
    /// does not, none does, and if p places work so do p + 1, so the smallest p that works (scanned down from 17
    /// significant digits, which always work) is the shortest string, and the closest among the shortest: what .NET
    /// prints. Ties and a distance equal to half an ulp are left to double.TryFormat, and so is every M that is a power of
    /// two (its interval is lopsided). Fixed notation: below 2^30 .NET never uses an exponent.
    /// </remarks>
    private static bool TryWriteLongDecimal(double value, double magnitude, Span<byte> span, out int written)
    {
        written = 0;
        if (!(magnitude < SingleScaleLimit)) return false;
        ulong bits = (ulong)BitConverter.DoubleToInt64Bits(magnitude);
        int exponent = (int)(bits >> 52) - 1023;
        ulong significand = (bits & ((1UL << 52) - 1)) | (1UL << 52);
        if (significand == 1UL << 52) return false;
        int shift = 52 - exponent;
        // 1 <= magnitude < 2^30: exponent 0..29, so shift 23..52.
        if ((uint)exponent > 29) return false;
        ulong whole = (ulong)magnitude;
        int integerDigits = 1;
        while (integerDigits < 10 && whole >= Pow10Integers[integerDigits]) integerDigits++;
        // The single scaling already ruled out 0..6 places; 17 significant digits always round-trip.
        int most = 17 - integerDigits;
        ulong found = 0;
        int foundPlaces = -1;
        // Loop invariants, computed once (the JIT recomputed the 128-bit shifts on every pass).
        UInt128 mask = (UInt128.One << shift) - 1, half = UInt128.One << (shift - 1);
        for (int places = most; places >= 7; places--)
        {
            ulong pow = Pow10Integers[places];
            UInt128 exact = (UInt128)significand * pow;
            UInt128 remainder = exact & mask;
            if (remainder == half) return false;
            ulong candidate = (ulong)(exact >> shift) + (remainder > half ? 1UL : 0UL);
            // Twice the distance, in units of 10^-p·2^-s, against 10^p (half an ulp, doubled).
            UInt128 scaledCandidate = (UInt128)candidate << (shift + 1), twiceExact = exact << 1;
            UInt128 distance = scaledCandidate > twiceExact ? scaledCandidate - twiceExact : twiceExact - scaledCandidate;
            if (distance == pow) return false;
            if (distance > pow) break;
            found = candidate;
            foundPlaces = places;
        }
        // No p ≤ 17 - digits worked (never for a finite double), or the shortest has a trailing zero (then fewer places
        // would have worked too): leave it to double.TryFormat rather than trust this path.
        if (foundPlaces < 0 || found % 10 == 0) return false;
        // The integer part is whole: found / 10^p lies within half an ulp of the value, which is at least an ulp away from
        // the integers around it, so it has the same integer part. Checked rather than trusted (a wrapped or too large
        // fraction goes to double.TryFormat); it saves WriteFixed's two 64-bit divisions by a variable power of ten.
        ulong fraction = found - whole * Pow10Integers[foundPlaces];
        if (fraction >= Pow10Integers[foundPlaces] || span.Length < 24) return false;
        int at = 0;
        if (value < 0) span[at++] = (byte)'-';
        if (!TryWriteWhole(whole, span, ref at)) return false;
        span[at++] = (byte)'.';
        // At most "-", 17 digits and "." in all; the fraction's 8-byte stores stay within the 24 checked.
        WriteDigits(fraction, foundPlaces, span[at..]);
        written = at + foundPlaces;
        return true;
    }

    /// <summary>
    /// Writes <paramref name="value"/> (below 10^<paramref name="count"/>, count 7..16) as exactly count digits, zero-padded,
    /// eight digits per 8-byte store instead of one division per digit. Needs max(count, 8) bytes of room; bytes past count may be written.
    /// </summary>
    private static void WriteDigits(ulong value, int count, Span<byte> span)
    {
        const ulong Zeros = 0x3030_3030_3030_3030UL;
        if (count > 8)
        {
            ulong high = value / 100_000_000;
            uint low = (uint)(value - high * 100_000_000);
            // The high block's leading zero digits (16 - count of them) are its first bytes: shifted out.
            BinaryPrimitives.WriteUInt64LittleEndian(span, EightDigits((uint)high) >> (8 * (16 - count)) | Zeros);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(count - 8)..], EightDigits(low) | Zeros);
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span, EightDigits((uint)value) >> (8 * (8 - count)) | Zeros);
        }
    }

    /// <summary>
    /// The eight decimal digits of <paramref name="value"/> (below 10^8), zero-padded, as bytes 0..7 of the result, most
    /// significant first, each 0..9: split into two 4-digit halves (32-bit lanes), then each lane into two 2-digit
    /// halves (16-bit lanes), then each into two digits (bytes), dividing all lanes at once by multiply and shift
    /// (x·10486 >> 20 is x / 100 for x below 10^4; x·103 >> 10 is x / 10 for x below 100; no lane overflows into the next).
    /// </summary>
    private static ulong EightDigits(uint value)
    {
        uint high = value / 10_000;
        ulong lanes = high | (ulong)(value - high * 10_000) << 32;
        ulong hundreds = (lanes * 10486 >> 20) & 0x0000_007F_0000_007FUL;
        lanes = hundreds | (lanes - hundreds * 100) << 16;
        ulong tens = (lanes * 103 >> 10) & 0x000F_000F_000F_000FUL;
        return tens | (lanes - tens * 10) << 8;
    }

    /// <summary>
    /// Writes <paramref name="micros"/> / 10^6 (below 2^30 · 10^6) with no trailing zeros in the fraction and no point when
    /// it is whole: the bytes of <c>WriteFixed</c> after removing the trailing zeros, without its loop of divisions and its
    /// division by a variable power of ten. All six fraction digits are formed at once in one 8-byte store and the trailing
    /// '0's cut by counting the zero digits at the top of the word.
    /// </summary>
    private static bool WriteMicros(ulong micros, bool negative, Span<byte> span, out int written)
    {
        written = 0;
        if (span.Length < 24) return false;
        int at = 0;
        if (negative) span[at++] = (byte)'-';
        ulong whole = micros / 1_000_000;
        uint fraction = (uint)(micros - whole * 1_000_000);
        if (!TryWriteWhole(whole, span, ref at)) return false;
        if (fraction != 0)
        {
            span[at] = (byte)'.';
            // Digit i of the six (most significant first) goes in byte i of the word, so the last digits are its top bytes.
            uint high = fraction / 1000, low = fraction - high * 1000;
            ulong packed = ThreeDigits(high) | (ulong)ThreeDigits(low) << 24;
            BinaryPrimitives.WriteUInt64LittleEndian(span[(at + 1)..], packed | 0x0000_3030_3030_3030UL);
            // The two spare top bytes are zero, and the fraction is not, so at least one digit is non-zero.
            int trailingZeros = BitOperations.LeadingZeroCount(packed) / 8 - 2;
            at += 7 - trailingZeros;
        }
        written = at;
        return true;
    }

    // The integer part of a decimal: most readings have one or two digits, written directly (ulong.TryFormat's general path
    // costs more).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryWriteWhole(ulong whole, Span<byte> span, ref int at)
    {
        if (whole < 100)
        {
            if (whole >= 10) span[at++] = (byte)('0' + whole / 10);
            span[at++] = (byte)('0' + whole % 10);
            return true;
        }
        if (!whole.TryFormat(span[at..], out int length, default, CultureInfo.InvariantCulture)) return false;
        at += length;
        return true;
    }

    // The three decimal digits of value (below 1000) as the bytes 0..2 of the result, most significant first, each 0..9.
    private static uint ThreeDigits(uint value)
    {
        uint hundreds = value / 100, rest = value - hundreds * 100;
        uint tens = rest / 10;
        return hundreds | tens << 8 | (rest - tens * 10) << 16;
    }

    private static bool WriteFixed(ulong digits, int decimals, bool negative, Span<byte> span, out int written)
    {
        written = 0;
        // At most "-", 17 digits and "." (from TryWriteLongDecimal), or "-", 15 digits, "0." and up to 6 leading zeros of the fraction.
        if (span.Length < 24) return false;
        int at = 0;
        if (negative) span[at++] = (byte)'-';
        ulong scale = Pow10Integers[decimals];
        ulong whole = digits / scale, fraction = digits % scale;
        if (!TryWriteWhole(whole, span, ref at)) return false;
        if (decimals > 0)
        {
            span[at++] = (byte)'.';
            for (int i = decimals - 1; i >= 0; i--)
            {
                span[at + i] = (byte)('0' + (int)(fraction % 10));
                fraction /= 10;
            }
            at += decimals;
        }
        written = at;
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
