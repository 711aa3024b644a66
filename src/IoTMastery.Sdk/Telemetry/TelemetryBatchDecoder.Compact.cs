using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace IoTMastery.Sdk;

// The compact path: the exact shape TelemetryJsonEncoder writes, scanned byte by byte, in front of the reader path
// (TelemetryBatchDecoder.cs), which stays the reference it is tested against.
internal sealed partial class TelemetryBatchDecoder
{
    // A record read on its own (the compact path's fallback for one record) starts one level shallower than inside the
    // batch's array, so the same nesting limit is one less.
    private static readonly JsonReaderOptions RecordReaderOptions = new() { MaxDepth = MaxDepth - 1 };

    // Largest multi-segment payload copied into one pooled array for the compact path; larger ones are read in place.
    private const int MaxCopiedLength = 1 << 20;

    // Where a plain name ends: its closing quote, or the first byte the compact path leaves to the reader (an escape, or a
    // control character, which JSON forbids raw in a string).
    private static readonly SearchValues<byte> NameStops = SearchValues.Create(
        [(byte)'"', (byte)'\\', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);

    // Exact powers of ten up to 10^15: a decimal of at most 15 digits is m / 10^k with both exact doubles.
    private static readonly double[] Pow10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

    // ---- the compact path: the exact shape TelemetryJsonEncoder writes, scanned byte by byte ----
    // [{"d":"<name>","m":"<name>","v":<number>,"t":<integer>(,"s":<integer>)?}, ...] with plain names (no escapes) and
    // short numbers. The profile of the reader path was mostly Utf8JsonReader's tokenizing (a state machine per token,
    // ten tokens a record) and the general number parser; here a record is a few literal compares, two name scans
    // and two digit loops. Anything else in a record (escapes, exponents, long numbers, other fields or order,
    // whitespace inside it) is handed to the reader for that record alone; anything the compact path cannot place, or
    // any error at all, abandons it for the whole batch, and the reader path then decides, so every batch gets exactly
    // the reader path's records or its exception.

    // Decodes the whole batch and returns true, or returns false with output as it was.
    private bool TryDecodeCompact(ReadOnlySpan<byte> json, List<TelemetryRecord> output)
    {
        int before = output.Count;
        try
        {
            if (DecodeCompact(json, output)) return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            // A record the reader rejects: the whole-batch reader path below reports it with its own position.
        }
        output.RemoveRange(before, output.Count - before);
        return false;
    }

    private bool DecodeCompact(ReadOnlySpan<byte> json, List<TelemetryRecord> output)
    {
        int at = SkipWhitespace(json, 0);
        if (at == json.Length || json[at] != '[') return false;
        at = SkipWhitespace(json, at + 1);
        if (at < json.Length && json[at] == ']') return SkipWhitespace(json, at + 1) == json.Length;
        // Records of a batch mostly share their metric: the previous one's bytes are compared before any hashing.
        var names = new LastName();
        while (true)
        {
            if (at == json.Length || json[at] != '{') return false;
            int start = at;
            if (!TryReadCompactRecord(json, ref at, ref names, out var record))
            {
                at = start;
                record = ReadOneRecord(json, ref at);
            }
            output.Add(record);
            at = SkipWhitespace(json, at);
            if (at == json.Length) return false;
            if (json[at] == ',')
            {
                at = SkipWhitespace(json, at + 1);
                continue;
            }
            return json[at] == ']' && SkipWhitespace(json, at + 1) == json.Length;
        }
    }

    private ref struct LastName
    {
        public ReadOnlySpan<byte> Utf8;
        public string? Text;
    }

    // JSON's whitespace between tokens (Utf8JsonReader's set: space, tab, LF, CR).
    private static int SkipWhitespace(ReadOnlySpan<byte> json, int at)
    {
        while (at < json.Length && json[at] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r') at++;
        return at;
    }

    // One record by the reader, from its '{' at json[at]; at moves past its '}'. Throws as the reader path would.
    private TelemetryRecord ReadOneRecord(ReadOnlySpan<byte> json, ref int at)
    {
        var reader = new Utf8JsonReader(json[at..], RecordReaderOptions);
        reader.Read();
        var record = ReadRecord(ref reader);
        at += (int)reader.BytesConsumed;
        return record;
    }

    // One record of the exact compact shape from json[at] ('{'), or false (at unspecified) for the reader to take it.
    private bool TryReadCompactRecord(ReadOnlySpan<byte> json, ref int at, ref LastName names, out TelemetryRecord record)
    {
        record = default;
        int i = at;
        if (!Follows(json, i, RecordHead)) return false;
        i += 6;
        var device = CompactName(json, ref i);
        if (device is null || !Follows(json, i, MetricHead)) return false;
        i += 7;
        string? metric;
        int metricStart = i;
        int metricLength = json[i..].IndexOfAny(NameStops);
        if (metricLength > 0 && json[i + metricLength] == '"' && names.Text is not null && json.Slice(i, metricLength).SequenceEqual(names.Utf8))
        {
            metric = names.Text;
            i += metricLength;
        }
        else
        {
            metric = CompactName(json, ref i);
            if (metric is null || metric.Length > TelemetryRecord.MaxMetricLength) return false;
            names.Utf8 = json[metricStart..i];
            names.Text = metric;
        }
        if (!Follows(json, i, ValueHead)) return false;
        i += 6;
        if (!TryReadShortDecimal(json, ref i, out double value) && !TryReadNumber(json, ref i, out value)) return false;
        if (!Follows(json, i, TimeHead)) return false;
        i += 5;
        if (!TryReadInteger(json, ref i, out long time) || time is < MinUnixMilliseconds or > MaxUnixMilliseconds) return false;
        long sequence = 0;
        if (Follows(json, i, SequenceHead))
        {
            i += 5;
            if (!TryReadInteger(json, ref i, out sequence) || sequence <= 0) return false;
        }
        if (i == json.Length || json[i] != '}') return false;
        at = i + 1;
        record = new TelemetryRecord(device, metric, value, DateTimeOffset.FromUnixTimeMilliseconds(time), sequence);
        return true;
    }

    // The record's fixed parts, as two overlapping 4-byte words each. MemoryExtensions.StartsWith was 4.4 % of the span
    // profile on its own: the record method is too large for the JIT to inline it there, so it ran as a general call.
    private readonly record struct Literal(uint First, uint Last, int Length);

    private static readonly Literal RecordHead = LiteralOf("{\"d\":\""u8);
    private static readonly Literal MetricHead = LiteralOf("\",\"m\":\""u8);
    private static readonly Literal ValueHead = LiteralOf("\",\"v\":"u8);
    private static readonly Literal TimeHead = LiteralOf(",\"t\":"u8);
    private static readonly Literal SequenceHead = LiteralOf(",\"s\":"u8);

    private static Literal LiteralOf(ReadOnlySpan<byte> bytes) =>
        new(MemoryMarshal.Read<uint>(bytes), MemoryMarshal.Read<uint>(bytes[^4..]), bytes.Length);

    // Whether json[at..] starts with the literal (5 to 8 bytes); at is within json.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Follows(ReadOnlySpan<byte> json, int at, Literal literal)
    {
        if (json.Length - at < literal.Length) return false;
        ref byte start = ref Unsafe.Add(ref MemoryMarshal.GetReference(json), at);
        return Unsafe.ReadUnaligned<uint>(ref start) == literal.First &&
               Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, literal.Length - 4)) == literal.Last;
    }

    // A plain name from json[at] to its closing quote (at moves onto the quote), interned as ReadName would; null when it is
    // empty, escaped, not valid UTF-8 or too long to cache: the reader then takes the record (and rejects what it must).
    private string? CompactName(ReadOnlySpan<byte> json, ref int at)
    {
        var rest = json[at..];
        int length = rest.IndexOfAny(NameStops);
        if (length <= 0 || rest[length] != '"') return null;
        var text = InternUtf8(rest[..length]);
        if (text is not null) at += length;
        return text;
    }

    // A JSON number of at most 15 digits with no exponent: -?(0|[1-9][0-9]*)(.[0-9]+)?. Its value is m / 10^k with m < 10^15
    // and k <= 15, both exact doubles, so the one IEEE division is correctly rounded: the same double every correct
    // parser (Utf8JsonReader's included) returns. Negative zero stays negative. False for anything else.
    private static bool TryReadShortDecimal(ReadOnlySpan<byte> json, ref int at, out double value)
    {
        value = 0;
        int i = at;
        bool negative = i < json.Length && json[i] == '-';
        if (negative) i++;
        int start = i;
        ulong digits = 0;
        while (i < json.Length && (uint)(json[i] - '0') <= 9 && i - start < 16) digits = digits * 10 + (uint)(json[i++] - '0');
        int whole = i - start;
        if (whole == 0 || (whole > 1 && json[start] == '0')) return false;
        int decimals = 0;
        if (i < json.Length && json[i] == '.')
        {
            int fraction = ++i;
            while (i < json.Length && (uint)(json[i] - '0') <= 9 && whole + (i - fraction) < 16) digits = digits * 10 + (uint)(json[i++] - '0');
            decimals = i - fraction;
            if (decimals == 0) return false;
        }
        // Sixteen digits read means there may be more: too long for the exact division.
        if (whole + decimals > 15 || (i < json.Length && (uint)(json[i] - '0') <= 9)) return false;
        value = digits / Pow10[decimals];
        if (negative) value = -value;
        at = i;
        return true;
    }

    // Any other JSON number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, parsed by the very call Utf8JsonReader.TryGetDouble
    // makes (Utf8Parser, 'e' format when there is an exponent, the whole token consumed); false when it is not finite or
    // not a JSON number. A value the encoder could not write as a short decimal (about one in ten of the benchmark's)
    // would otherwise send its whole record to the reader.
    private static bool TryReadNumber(ReadOnlySpan<byte> json, ref int at, out double value)
    {
        value = 0;
        int i = at;
        if (i < json.Length && json[i] == '-') i++;
        int start = i;
        while (i < json.Length && (uint)(json[i] - '0') <= 9) i++;
        if (i == start || (i - start > 1 && json[start] == '0')) return false;
        if (i < json.Length && json[i] == '.')
        {
            int fraction = ++i;
            while (i < json.Length && (uint)(json[i] - '0') <= 9) i++;
            if (i == fraction) return false;
        }
        char format = default;
        if (i < json.Length && json[i] is (byte)'e' or (byte)'E')
        {
            format = 'e';
            if (++i < json.Length && json[i] is (byte)'+' or (byte)'-') i++;
            int exponent = i;
            while (i < json.Length && (uint)(json[i] - '0') <= 9) i++;
            if (i == exponent) return false;
        }
        var number = json[at..i];
        if (!Utf8Parser.TryParse(number, out value, out int consumed, format) || consumed != number.Length || !double.IsFinite(value)) return false;
        at = i;
        return true;
    }

    // -?(0|[1-9][0-9]*) of at most 18 digits (so no overflow); false for anything else, including a fraction or exponent
    // (the caller then sees no ',' or '}' next).
    private static bool TryReadInteger(ReadOnlySpan<byte> json, ref int at, out long value)
    {
        value = 0;
        int i = at;
        bool negative = i < json.Length && json[i] == '-';
        if (negative) i++;
        int start = i;
        long digits = 0;
        // Timestamps have 13 digits: the first eight are converted in one go when all eight are digits.
        if (json.Length - i >= 8 && TryEightDigits(BinaryPrimitives.ReadUInt64LittleEndian(json[i..]), out uint eight))
        {
            digits = eight;
            i += 8;
        }
        while (i < json.Length && (uint)(json[i] - '0') <= 9 && i - start < 19) digits = digits * 10 + (json[i++] - '0');
        int count = i - start;
        if (count == 0 || count > 18 || (count > 1 && json[start] == '0')) return false;
        value = negative ? -digits : digits;
        at = i;
        return true;
    }

    // Eight ASCII digits (first digit in the lowest byte) as their value, with three multiplies instead of eight steps;
    // false when any of the eight bytes is not a digit.
    private static bool TryEightDigits(ulong word, out uint value)
    {
        value = 0;
        // A byte is a digit when its high nibble is 3 and adding 6 does not carry into it (low nibble at most 9).
        if ((word & 0xF0F0F0F0F0F0F0F0) != 0x3030303030303030 || ((word + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0) != 0x3030303030303030)
            return false;
        ulong x = word - 0x3030303030303030;
        // Adjacent digits to two-digit values (in every other byte), then pairs of those to four-digit values, then both halves.
        x = (x * 10) + (x >> 8);
        x = (((x & 0x000000FF000000FF) * (100 + (1000000UL << 32))) + (((x >> 16) & 0x000000FF000000FF) * (1 + (10000UL << 32)))) >> 32;
        value = (uint)x;
        return true;
    }
}
