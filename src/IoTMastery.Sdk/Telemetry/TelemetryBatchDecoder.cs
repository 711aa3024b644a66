using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace IoTMastery.Sdk;

/// <summary>
/// Decodes <see cref="TelemetryJson"/> batches (what <see cref="TelemetryJsonEncoder"/> and <see cref="TelemetryJson.WriteBatch"/>
/// write) into a caller-supplied list, without allocating per record once the device ids and metric names have been seen:
/// those strings are interned in a bounded cache, so a fleet reader that reuses its list allocates nothing in steady state.
/// Thread-safe; <see cref="Shared"/> serves every reader (the public face is <see cref="TelemetryRecord.DecodeBatch(ReadOnlySpan{byte}, List{TelemetryRecord})"/>),
/// so every reader in the process shares one bounded cache and one instance of each name. Other instances exist for tests
/// of the cache bound.
/// </summary>
internal sealed class TelemetryBatchDecoder
{
    // Longest name the cache looks up through a stack buffer: metrics are at most 128 characters and device ids at most
    // 255 (GCP), so longer strings only come from foreign or broken writers and are allocated (uncached) instead.
    private const int MaxCachedLength = 256;

    // The range DateTimeOffset.FromUnixTimeMilliseconds accepts; checked here so a bad "t" is our message, not the BCL's.
    private const long MinUnixMilliseconds = -62_135_596_800_000;
    private const long MaxUnixMilliseconds = 253_402_300_799_999;

    // Longest number copied to the stack when it is split across segments; longer ones take the reader's allocating path.
    private const int MaxNumberLength = 64;

    // Slots of the direct-mapped name table (a power of two): 4,096 references, 32 KB per decoder.
    private const int FastSlots = 4096;

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 4 };

    // A record read on its own (the compact path's fallback for one record) starts one level shallower than inside the
    // batch's array, so the same nesting limit is one less.
    private static readonly JsonReaderOptions RecordReaderOptions = new() { MaxDepth = ReaderOptions.MaxDepth - 1 };

    // Largest multi-segment payload copied into one pooled array for the compact path; larger ones are read in place.
    private const int MaxCopiedLength = 1 << 20;

    // Where a plain name ends: its closing quote, or the first byte the compact path leaves to the reader (an escape, or a
    // control character, which JSON forbids raw in a string).
    private static readonly SearchValues<byte> NameStops = SearchValues.Create(
        [(byte)'"', (byte)'\\', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);

    // Exact powers of ten up to 10^15: a decimal of at most 15 digits is m / 10^k with both exact doubles.
    private static readonly double[] Pow10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

    private readonly ConcurrentDictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int _maxCachedStrings;
    private readonly FastEntry?[] _fast;
    private int _cachedStrings;

    /// <summary>Creates a decoder whose string cache keeps at most <paramref name="maxCachedStrings"/> distinct names.</summary>
    /// <param name="maxCachedStrings">
    /// Bound on interned device ids and metric names. Names beyond it are still decoded, but allocated per record, so a
    /// stream of ever-new names cannot grow memory without limit.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxCachedStrings"/> is negative.</exception>
    public TelemetryBatchDecoder(int maxCachedStrings = 65_536)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCachedStrings);
        _maxCachedStrings = maxCachedStrings;
        _lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();
        // Without a cache there is nothing to point at, so no table either.
        _fast = maxCachedStrings == 0 ? [] : new FastEntry?[FastSlots];
    }

    // A name's UTF-8 bytes and its interned string; immutable, so a slot is published whole.
    private sealed record FastEntry(byte[] Utf8, string Text);

    /// <summary>The process-wide decoder behind <see cref="TelemetryRecord.DecodeBatch(ReadOnlySpan{byte}, List{TelemetryRecord})"/> and the providers' fleet-side readers.</summary>
    public static TelemetryBatchDecoder Shared { get; } = new();

    [ThreadStatic] private static List<TelemetryRecord>? t_records;

    /// <summary>
    /// An empty list owned by the calling thread, for a broker callback that decodes a batch and hands the records on
    /// synchronously. It must not be kept across an await or after the callback returns: the next call on this thread clears it.
    /// </summary>
    internal static List<TelemetryRecord> ThreadBuffer()
    {
        var records = t_records;
        // A huge batch must not pin its capacity on a pool thread forever.
        if (records is null || records.Capacity > 65_536) t_records = records = new List<TelemetryRecord>(512);
        records.Clear();
        return records;
    }

    /// <summary>
    /// Appends the records of one batch to <paramref name="output"/> and returns how many it appended. On a malformed batch
    /// nothing is appended (the list is left as it was) and a <see cref="FormatException"/> says why and at which byte,
    /// without quoting the payload.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> is null.</exception>
    /// <exception cref="FormatException">The payload is not a well-formed telemetry batch.</exception>
    public int Decode(ReadOnlySpan<byte> utf8Json, List<TelemetryRecord> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        int before = output.Count;
        if (TryDecodeCompact(utf8Json, output)) return output.Count - before;
        return DecodeWithReader(utf8Json, output);
    }

    /// <summary>
    /// As <see cref="Decode(ReadOnlySpan{byte}, List{TelemetryRecord})"/>, for a payload in several segments (an MQTT or
    /// pipe buffer), without copying it into one array first.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> is null.</exception>
    /// <exception cref="FormatException">The payload is not a well-formed telemetry batch.</exception>
    public int Decode(in ReadOnlySequence<byte> utf8Json, List<TelemetryRecord> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (utf8Json.IsSingleSegment) return Decode(utf8Json.FirstSpan, output);
        if (utf8Json.Length <= MaxCopiedLength)
        {
            // One copy into a pooled array (a memcpy, a few ns per record) costs far less than the reader's multi-segment
            // path, and lets the batch take the compact path. A batch it does not take is read from the segments as before,
            // so the errors stay exactly the multi-segment reader's.
            int length = (int)utf8Json.Length, before = output.Count;
            var copy = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                utf8Json.CopyTo(copy);
                if (TryDecodeCompact(copy.AsSpan(0, length), output)) return output.Count - before;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(copy);
            }
        }
        return DecodeWithReader(utf8Json, output);
    }

    /// <summary>The general path alone (<see cref="Utf8JsonReader"/> over the whole batch); the reference the compact path is tested against.</summary>
    internal int DecodeWithReader(ReadOnlySpan<byte> utf8Json, List<TelemetryRecord> output)
    {
        var reader = new Utf8JsonReader(utf8Json, ReaderOptions);
        return DecodeAtomically(ref reader, output, allowBareObject: false);
    }

    /// <summary>The general path alone over segments, as <see cref="DecodeWithReader(ReadOnlySpan{byte}, List{TelemetryRecord})"/>.</summary>
    internal int DecodeWithReader(in ReadOnlySequence<byte> utf8Json, List<TelemetryRecord> output)
    {
        var reader = new Utf8JsonReader(utf8Json, ReaderOptions);
        return DecodeAtomically(ref reader, output, allowBareObject: false);
    }

    /// <summary>As <see cref="Decode(ReadOnlySpan{byte}, List{TelemetryRecord})"/>, also accepting one bare record object (Azure's single-record events).</summary>
    internal int DecodeArrayOrObject(ReadOnlySpan<byte> utf8Json, List<TelemetryRecord> output)
    {
        // The compact path takes arrays only, so a bare object always goes to the reader.
        int before = output.Count;
        if (TryDecodeCompact(utf8Json, output)) return output.Count - before;
        var reader = new Utf8JsonReader(utf8Json, ReaderOptions);
        return DecodeAtomically(ref reader, output, allowBareObject: true);
    }

    private int DecodeAtomically(ref Utf8JsonReader reader, List<TelemetryRecord> output, bool allowBareObject)
    {
        int before = output.Count;
        try
        {
            DecodeCore(ref reader, output, allowBareObject);
        }
        catch (JsonException ex)
        {
            // The reader's own message quotes the offending bytes; a device's payload must not reach logs, so only the position is kept.
            output.RemoveRange(before, output.Count - before);
            throw new FormatException($"Malformed telemetry batch: invalid JSON at byte {ex.BytePositionInLine ?? reader.BytesConsumed} of line {ex.LineNumber ?? 0}.", ex);
        }
        catch (InvalidOperationException ex)
        {
            // CopyString/GetString: invalid UTF-8 or a lone surrogate escape inside a string.
            output.RemoveRange(before, output.Count - before);
            throw new FormatException($"Malformed telemetry batch: a string near byte {reader.TokenStartIndex} is not valid UTF-8 or UTF-16.", ex);
        }
        catch (FormatException)
        {
            output.RemoveRange(before, output.Count - before);
            throw;
        }
        return output.Count - before;
    }

    private void DecodeCore(ref Utf8JsonReader reader, List<TelemetryRecord> output, bool allowBareObject)
    {
        if (!reader.Read()) throw Malformed(ref reader, "the payload is empty");
        if (reader.TokenType == JsonTokenType.StartObject && allowBareObject)
        {
            output.Add(ReadRecord(ref reader));
        }
        else
        {
            if (reader.TokenType != JsonTokenType.StartArray) throw Malformed(ref reader, "a batch must be a JSON array");
            while (true)
            {
                if (!reader.Read()) throw Malformed(ref reader, "the batch is truncated");
                if (reader.TokenType == JsonTokenType.EndArray) break;
                if (reader.TokenType != JsonTokenType.StartObject) throw Malformed(ref reader, "batch items must be objects");
                output.Add(ReadRecord(ref reader));
            }
        }
        // Anything after the batch (a second array, garbage) is an error, as the reader reports it on the next Read.
        if (reader.Read()) throw Malformed(ref reader, "data follows the end of the batch");
    }

    private TelemetryRecord ReadRecord(ref Utf8JsonReader reader)
    {
        string? device = null, metric = null;
        double value = 0;
        long time = 0, sequence = 0;
        // Bits of the required fields seen: d=1, m=2, v=4, t=8.
        int seen = 0;
        while (true)
        {
            if (!reader.Read()) throw Malformed(ref reader, "the record is truncated");
            if (reader.TokenType == JsonTokenType.EndObject) break;
            var key = Key(ref reader);
            if (!reader.Read()) throw Malformed(ref reader, "the record is truncated");
            switch (key)
            {
                case (byte)'d':
                    device = ReadName(ref reader, "d");
                    seen |= 1;
                    break;
                case (byte)'m':
                    metric = ReadName(ref reader, "m");
                    seen |= 2;
                    break;
                case (byte)'v':
                    if (reader.TokenType != JsonTokenType.Number || !TryGetDouble(ref reader, out value) || !double.IsFinite(value))
                        throw Malformed(ref reader, "v must be a finite number");
                    seen |= 4;
                    break;
                case (byte)'t':
                    if (reader.TokenType != JsonTokenType.Number || !TryGetInt64(ref reader, out time) || time is < MinUnixMilliseconds or > MaxUnixMilliseconds)
                        throw Malformed(ref reader, "t must be whole Unix milliseconds between years 1 and 9999");
                    seen |= 8;
                    break;
                case (byte)'s':
                    if (reader.TokenType != JsonTokenType.Number || !TryGetInt64(ref reader, out sequence) || sequence <= 0)
                        throw Malformed(ref reader, "s (sequence) must be a positive whole number");
                    break;
                default:
                    // Unknown fields are skipped so a newer writer can add some; MaxDepth bounds how deep they nest.
                    reader.Skip();
                    break;
            }
        }
        if (seen != 15) throw Malformed(ref reader, "a record lacks one of d, m, v, t");
        if (device!.Length == 0 || metric!.Length == 0) throw Malformed(ref reader, "d and m must not be empty");
        if (metric.Length > TelemetryRecord.MaxMetricLength)
            throw Malformed(ref reader, $"metric names are at most {TelemetryRecord.MaxMetricLength} characters; got {metric.Length}");
        // Every rule of TelemetryRecord's public constructor and of Sequence is checked above, so the unchecked one is used.
        return new TelemetryRecord(device, metric, value, DateTimeOffset.FromUnixTimeMilliseconds(time), sequence);
    }

    // The property name's one-byte key ('d', 'm', 'v', 't', 's'), or 0 for any other name.
    private static byte Key(ref Utf8JsonReader reader)
    {
        if (!reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            var name = reader.ValueSpan;
            return name.Length == 1 ? name[0] : (byte)0;
        }
        // Escaped ("\u0064") or split across segments: rare, so the slower comparison is fine.
        if (reader.ValueTextEquals("d"u8)) return (byte)'d';
        if (reader.ValueTextEquals("m"u8)) return (byte)'m';
        if (reader.ValueTextEquals("v"u8)) return (byte)'v';
        if (reader.ValueTextEquals("t"u8)) return (byte)'t';
        if (reader.ValueTextEquals("s"u8)) return (byte)'s';
        return 0;
    }

    private string ReadName(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType != JsonTokenType.String) throw Malformed(ref reader, $"{field} must be a string");
        // Fast path for the common case (plain bytes in one segment): a lock-free direct-mapped table keyed by the raw UTF-8
        // bytes, so a hit costs one hash and one compare, with no transcoding and no randomized string hash.
        int slot = -1;
        if (_fast.Length > 0 && !reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            var utf8 = reader.ValueSpan;
            if (utf8.Length <= MaxCachedLength)
            {
                slot = (int)XxHash3.HashToUInt64(utf8) & (FastSlots - 1);
                if (Volatile.Read(ref _fast[slot]) is { } entry && utf8.SequenceEqual(entry.Utf8)) return entry.Text;
            }
        }
        var text = ReadNameSlow(ref reader, out bool interned);
        // Only into an empty slot: two hot names that collide must not evict each other (an allocation per record); the
        // loser stays on the slower interned path. Taken slots never change, so readers see whole entries.
        if (slot >= 0 && interned)
            Interlocked.CompareExchange(ref _fast[slot], new FastEntry(reader.ValueSpan.ToArray(), text), null);
        return text;
    }

    // Unescapes and transcodes the name, then interns it while the cache has room; interned says whether it is the cached instance.
    private string ReadNameSlow(ref Utf8JsonReader reader, out bool interned)
    {
        interned = false;
        long encodedLength = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        // UTF-8 (escaped or not) never has fewer bytes than the UTF-16 characters it decodes to, so this buffer is enough.
        if (encodedLength > MaxCachedLength) return reader.GetString()!;
        Span<char> buffer = stackalloc char[MaxCachedLength];
        return Intern(buffer[..reader.CopyString(buffer)], out interned);
    }

    // The interned instance of a name, or a new string once the cache is full; interned says which.
    private string Intern(ReadOnlySpan<char> chars, out bool interned)
    {
        interned = false;
        if (_lookup.TryGetValue(chars, out var cached))
        {
            interned = true;
            return cached;
        }
        var text = new string(chars);
        // The count may overshoot the bound by the number of racing threads; the bound is about memory, not exactness.
        if (Volatile.Read(ref _cachedStrings) < _maxCachedStrings && _strings.TryAdd(text, text))
        {
            Interlocked.Increment(ref _cachedStrings);
            interned = true;
        }
        return text;
    }

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

    /// <summary>
    /// The string for a name's raw (unescaped) UTF-8 bytes, from the same interning tables as the names this decoder reads
    /// from JSON, so a fleet's repeated device ids and metric names allocate nothing: the outbox's reader decodes its
    /// binary frames' names through it. Equal to <see cref="Encoding.GetString(ReadOnlySpan{byte})"/> for every input (invalid
    /// UTF-8, too long or beyond the cache bound: decoded that way, uncached).
    /// </summary>
    internal string NameFromUtf8(ReadOnlySpan<byte> utf8) => InternUtf8(utf8) ?? Encoding.UTF8.GetString(utf8);

    // The interned string for these UTF-8 bytes through the direct-mapped table, or null when they are not cacheable (no
    // cache, too long, or not valid UTF-8).
    private string? InternUtf8(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxCachedLength || _fast.Length == 0) return null;
        int slot = (int)XxHash3.HashToUInt64(utf8) & (FastSlots - 1);
        if (Volatile.Read(ref _fast[slot]) is { } entry && utf8.SequenceEqual(entry.Utf8)) return entry.Text;
        // UTF-8 never has fewer bytes than the UTF-16 characters it decodes to, so the buffer is enough.
        Span<char> buffer = stackalloc char[MaxCachedLength];
        if (Utf8.ToUtf16(utf8, buffer, out _, out int written, replaceInvalidSequences: false) != OperationStatus.Done) return null;
        var text = Intern(buffer[..written], out bool interned);
        // As in ReadName: only into an empty slot, so two hot names that collide do not evict each other.
        if (interned) Interlocked.CompareExchange(ref _fast[slot], new FastEntry(utf8.ToArray(), text), null);
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

    // Utf8JsonReader's own TryGet* copy a number split across segments with ToArray (an allocation per split token); this
    // copies it to the stack instead. The reader has already checked the JSON number grammar, so only the range is left.
    private static bool TryGetDouble(ref Utf8JsonReader reader, out double value)
    {
        if (!reader.HasValueSequence || reader.ValueSequence.Length > MaxNumberLength) return reader.TryGetDouble(out value);
        Span<byte> buffer = stackalloc byte[MaxNumberLength];
        return double.TryParse(CopyNumber(reader.ValueSequence, buffer), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryGetInt64(ref Utf8JsonReader reader, out long value)
    {
        if (!reader.HasValueSequence || reader.ValueSequence.Length > MaxNumberLength) return reader.TryGetInt64(out value);
        Span<byte> buffer = stackalloc byte[MaxNumberLength];
        return long.TryParse(CopyNumber(reader.ValueSequence, buffer), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    private static ReadOnlySpan<byte> CopyNumber(in ReadOnlySequence<byte> number, Span<byte> buffer)
    {
        var digits = buffer[..(int)number.Length];
        number.CopyTo(digits);
        return digits;
    }

    private static FormatException Malformed(ref Utf8JsonReader reader, string reason) =>
        new($"Malformed telemetry batch: {reason} (near byte {reader.TokenStartIndex}).");
}
