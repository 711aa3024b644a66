using System.Text;

namespace IoTMastery.Sdk;

/// <summary>
/// Remembers the strings an outbox reader decoded last, keyed by their exact UTF-8 bytes, so reading back records of a
/// fleet whose device ids and metric names repeat allocates no strings in steady state. Direct-mapped: a slot holds the
/// last short string that hashed to it, so a miss (a new name, or two names sharing a slot) costs what decoding without
/// the cache did, one string. Not thread-safe: one per reader.
/// </summary>
/// <remarks>
/// Why it exists: decoding allocated two strings per record (≈ 145 B), and the gen-0 collections that caused stopped the
/// producer thread of a durable pipeline too, which is most of the wall-clock time one producer lost (issue #18).
/// A hit returns a string equal to what <see cref="Encoding.GetString(ReadOnlySpan{byte})"/> returns for the same bytes,
/// because the key is the bytes themselves, compared in full (invalid UTF-8 included: its decoding is deterministic).
/// </remarks>
internal sealed class OutboxStringCache
{
    /// <summary>Longest UTF-8 name kept; longer ones are decoded each time (device ids and metric names are short).</summary>
    public const int MaxBytes = 64;

    private const int Slots = 2048;

    // Slot i's key lives at _keys[i * MaxBytes .. + _lengths[i]]; a null value marks an empty slot.
    private readonly byte[] _keys = new byte[Slots * MaxBytes];
    private readonly byte[] _lengths = new byte[Slots];
    private readonly string?[] _values = new string?[Slots];

    /// <summary>The string for <paramref name="utf8"/>: the cached one when the same bytes were decoded into this slot last.</summary>
    public string Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxBytes) return Encoding.UTF8.GetString(utf8);
        int slot = (int)((uint)Hash(utf8) % Slots);
        var key = _keys.AsSpan(slot * MaxBytes, MaxBytes);
        if (_values[slot] is { } cached && _lengths[slot] == utf8.Length && key[..utf8.Length].SequenceEqual(utf8)) return cached;
        string value = Encoding.UTF8.GetString(utf8);
        utf8.CopyTo(key);
        _lengths[slot] = (byte)utf8.Length;
        _values[slot] = value;
        return value;
    }

    private static int Hash(ReadOnlySpan<byte> utf8)
    {
        var hash = new HashCode();
        hash.AddBytes(utf8);
        return hash.ToHashCode();
    }
}
