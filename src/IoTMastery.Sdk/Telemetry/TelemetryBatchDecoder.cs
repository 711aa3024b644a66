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
internal sealed partial class TelemetryBatchDecoder
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

    // The nesting a batch may have (array, record, an unknown field's value two levels deep); a constant, because the
    // compact path's options (TelemetryBatchDecoder.Compact.cs) derive from it and static initializers of partial files
    // run in no defined order.
    private const int MaxDepth = 4;

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = MaxDepth };

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
        // Fast path for the common case (plain bytes in one segment): the direct-mapped table keyed by the raw UTF-8 bytes
        // (InternUtf8), so a hit costs one hash and one compare. Escaped, split, too long or invalid names go the reader's way,
        // which unescapes them or throws.
        if (!reader.HasValueSequence && !reader.ValueIsEscaped && InternUtf8(reader.ValueSpan) is { } text) return text;
        return ReadNameSlow(ref reader);
    }

    // Unescapes and transcodes the name, then interns it while the cache has room.
    private string ReadNameSlow(ref Utf8JsonReader reader)
    {
        long encodedLength = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        // UTF-8 (escaped or not) never has fewer bytes than the UTF-16 characters it decodes to, so this buffer is enough.
        if (encodedLength > MaxCachedLength) return reader.GetString()!;
        Span<char> buffer = stackalloc char[MaxCachedLength];
        return Intern(buffer[..reader.CopyString(buffer)], out _);
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
        // Only into an empty slot: two hot names that collide must not evict each other (an allocation per record); the
        // loser stays on the slower interned path. Taken slots never change, so readers see whole entries.
        if (interned) Interlocked.CompareExchange(ref _fast[slot], new FastEntry(utf8.ToArray(), text), null);
        return text;
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
