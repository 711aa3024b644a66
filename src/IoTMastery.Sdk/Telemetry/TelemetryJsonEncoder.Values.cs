using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace IoTMastery.Sdk;

// The encoder's number writing: values with few decimals without double.TryFormat, and the digits of a shortest round-trip
// decimal. Every path writes exactly what double.TryFormat (invariant) writes or declines (TelemetryJsonEncoderTests).
// Static initializers here are self-contained arrays: those of partial files run in no defined order.
internal sealed partial class TelemetryJsonEncoder
{
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
        // Only TryWriteShortDecimal's loop for magnitudes of at least 2^30 calls it now: at most "-", 15 digits and ".".
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
}
