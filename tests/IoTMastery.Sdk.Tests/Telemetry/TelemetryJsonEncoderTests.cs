using System.Buffers;
using System.Globalization;
using System.Text;

namespace IoTMastery.Sdk.Tests.Telemetry;

/// <summary>
/// The encoder's fast paths (the cached record head, values with few decimals) must write exactly the bytes of
/// <see cref="TelemetryJson.WriteBatch"/>, which every decoder and provider reads: the wire format does not change.
/// </summary>
public sealed class TelemetryJsonEncoderTests
{
    [Theory]
    [InlineData(20.37)]
    [InlineData(-20.37)]
    [InlineData(0.05)]
    [InlineData(-0.05)]
    [InlineData(0.0001)]
    [InlineData(0.00012)]
    [InlineData(0.000123)]
    [InlineData(0.00009999)]   // below 10^-4: left to double.TryFormat (exponent form starts at 10^-5)
    [InlineData(1e-5)]
    [InlineData(0.1 + 0.2)]    // 0.30000000000000004: 17 digits, left to double.TryFormat
    [InlineData(1200)]
    [InlineData(99999999999999.9)]
    [InlineData(12345678901234.5)]
    [InlineData(123456789012345)]
    [InlineData(1e14)]
    [InlineData(1e15)]
    [InlineData(1e16)]
    [InlineData(0.0)]
    [InlineData(1.5e-300)]
    [InlineData(double.MaxValue)]
    [InlineData(double.Epsilon)]
    [InlineData(2.5)]
    [InlineData(0.5)]
    [InlineData(1.0000005)]
    [InlineData(9.999999)]
    [InlineData(123.456789)]
    public void Short_decimals_are_written_as_double_TryFormat_writes_them(double value) => AssertSameAsTryFormat(value);

    [Fact]
    public void Typical_readings_take_the_fast_path()
    {
        Span<byte> span = stackalloc byte[64];
        foreach (var value in new[] { 20.37, -4.5, 1013.25, 0.05, 42.0, 123456.789 })
            Assert.True(TelemetryJsonEncoder.TryWriteShortDecimal(value, span, out _), $"{value:R}");
        // Zero is left to double.TryFormat, which writes "-0" for negative zero.
        Assert.False(TelemetryJsonEncoder.TryWriteShortDecimal(-0.0, span, out _));
        Assert.False(TelemetryJsonEncoder.TryWriteShortDecimal(0.0, span, out _));
    }

    [Fact]
    public void Short_decimals_match_double_TryFormat_on_a_million_values()
    {
        var random = new Random(18);
        int fast = 0;
        for (int i = 0; i < 1_000_000; i++)
        {
            double value = (i % 4) switch
            {
                // Readings with a few decimals, the case the fast path is for.
                0 => Math.Round((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-3, 14)), random.Next(0, 7)),
                // m / 10^k built the way a device would compute a scaled integer reading.
                1 => random.NextInt64(-1_000_000_000_000, 1_000_000_000_000) / Math.Pow(10, random.Next(0, 9)),
                // Arbitrary bit patterns: mostly long mantissas, exponent forms, subnormals.
                2 => BitConverter.Int64BitsToDouble(random.NextInt64()),
                // Near the fixed/exponent boundaries.
                _ => Math.Pow(10, random.Next(-6, 17)) * (1 + random.Next(0, 1000) / 1000.0),
            };
            if (!double.IsFinite(value)) continue;
            if (AssertSameAsTryFormat(value)) fast++;
        }
        // Not vacuous: most readings of the first two shapes take the fast path.
        Assert.True(fast > 300_000, $"{fast:N0} values took the fast path");
    }

    [Fact]
    public void The_single_scaling_below_2_to_30_takes_every_value_the_loop_over_k_took()
    {
        // TryWriteShortDecimal scales values below 2^30 once by 10^6 instead of trying k = 0..6; it must write the same
        // bytes (checked against double.TryFormat) and take the fast path for every value the loop did (checked against a
        // copy of the loop), including neighbours one ulp away, the 2^30 edge and the 10^-4 edge. It may take more: between
        // 10^9 and 2^30 a 6-place value has 16 digits, which the loop left to double.TryFormat (their bytes are checked too).
        var random = new Random(1830);
        var values = new List<double>
        {
            1073741823.999999, 1073741823.5, 1073741824.0, 1073741824.5, Math.BitDecrement(1073741824.0),
            999999999.999999, 1000000000.000001, 1000000000.5, 123456789.123456, 987654321.654321,
            0.0001, 0.000100, 0.0001001, 0.000999999, 9.9999995, 19.999999, 20.07, 20 + 7 / 100.0, 0.1 + 0.2,
        };
        for (int i = 0; i < 400_000; i++)
        {
            double value = (i % 4) switch
            {
                0 => random.NextInt64(0, 1L << 30) / Math.Pow(10, random.Next(0, 7)),
                1 => Math.Round(random.NextDouble() * Math.Pow(2, random.Next(-13, 31)), random.Next(0, 8)),
                2 => 20 + (i % 1000) / 100.0 + random.Next(0, 3) * 0.001,
                _ => Math.Pow(2, random.Next(-14, 31)) * random.NextDouble(),
            };
            values.Add(value);
            values.Add(Math.BitIncrement(value));
            values.Add(Math.BitDecrement(value));
        }
        int fast = 0;
        foreach (var v in values)
        {
            foreach (var value in new[] { v, -v })
            {
                bool wrote = AssertSameAsTryFormat(value);
                if (LoopOverK(value)) Assert.True(wrote, $"{value:R}: the loop took it, the single scaling did not");
                if (wrote) fast++;
            }
        }
        Assert.True(fast > 500_000, $"{fast:N0} values took the fast path");
    }

    [Fact]
    public void Long_decimals_from_1_to_2_to_30_are_written_as_double_TryFormat_writes_them()
    {
        // The exact-integer path for 7 to 17 significant decimals: every significand bit pattern, the e2e readings one ulp
        // off a short decimal (20.069999999999997), 7-place decimals, powers of two and their neighbours, the 1 and 2^30
        // edges, halfway-looking values. Bytes are checked against double.TryFormat; not vacuous: most of them take it.
        var random = new Random(1831);
        var values = new List<double> { 20 + 7 / 100.0, 1.0000001, 1.2345678, 1073741823.9999998, 9.999999999999998, 1.0 + 1e-15 };
        for (int e = 0; e < 30; e++)
        {
            double power = Math.Pow(2, e);
            values.Add(Math.BitIncrement(power));
            values.Add(Math.BitDecrement(power));
            values.Add(Math.BitIncrement(Math.BitIncrement(power)));
        }
        for (int i = 0; i < 300_000; i++)
        {
            double value = (i % 5) switch
            {
                0 => Math.Pow(2, random.Next(0, 30)) * (1 + random.NextDouble()),
                1 => 20 + (i % 1000) / 100.0,
                2 => Math.Round(1 + random.NextDouble() * Math.Pow(10, random.Next(0, 9)), random.Next(7, 12)),
                3 => random.NextInt64(1, 1L << 53) / Math.Pow(2, random.Next(23, 53)),
                _ => (random.Next(1, 100_000) + 0.5) / Math.Pow(10, random.Next(0, 5)),
            };
            if (!(value >= 1 && value < 1073741824.0)) continue;
            values.Add(value);
            values.Add(Math.BitIncrement(value));
            values.Add(Math.BitDecrement(value));
        }
        int fast = 0;
        foreach (var v in values)
        {
            if (AssertSameAsTryFormat(v)) fast++;
            if (AssertSameAsTryFormat(-v)) fast++;
        }
        Assert.True(fast > values.Count * 2 * 9 / 10, $"{fast:N0} of {values.Count * 2:N0} values took the fast path");
    }

    [Fact]
    public void Values_of_up_to_six_places_write_every_digit_count_and_trailing_zero_count_as_double_TryFormat()
    {
        // The six fraction digits are written as one word and the trailing zeros cut by counting zero bytes: every number of
        // places 0..6, every position of zero digits inside the fraction (0.000001, 0.100001, 0.010203), integer parts of
        // 1 to 10 digits up to 2^30, both signs, and the neighbours one ulp away (which take other paths).
        var random = new Random(1832);
        var values = new List<double> { 0.000001 + 1, 0.1, 0.100001, 0.010203, 0.000100, 0.5, 0.05, 0.005, 0.0005, 1073741823.000001, 1073741823.1, 99.999999, 100.000001 };
        for (int i = 0; i < 300_000; i++)
        {
            int places = i % 7;
            long whole = random.NextInt64(0, (long)Math.Pow(10, 1 + i / 7 % 10));
            if (whole >= 1L << 30) whole %= 1L << 30;
            long fraction = random.NextInt64(0, (long)Math.Pow(10, places));
            if (i % 3 == 0) fraction -= fraction % (long)Math.Pow(10, random.Next(0, places + 1)); // zeros inside and at the end
            double value = whole + fraction / Math.Pow(10, places);
            values.Add(value);
            values.Add(Math.BitIncrement(value));
        }
        int fast = 0;
        foreach (var v in values)
        {
            if (AssertSameAsTryFormat(v)) fast++;
            if (AssertSameAsTryFormat(-v)) fast++;
        }
        Assert.True(fast > values.Count, $"{fast:N0} of {values.Count * 2:N0} values took the fast path");
    }

    // The fast path's acceptance rule before the single scaling (kept here as the reference): the smallest k ≤ 6 with
    // Math.Round(|value|·10^k) / 10^k == |value| and the scaled integer below 10^15.
    private static bool LoopOverK(double value)
    {
        double magnitude = Math.Abs(value);
        if (!(magnitude >= 1e-4 && magnitude < 1e14)) return false;
        for (int k = 0; k <= 6; k++)
        {
            double pow = Math.Pow(10, k);
            double scaled = Math.Round(magnitude * pow);
            if (scaled >= 1e15) return false;
            if (scaled / pow == magnitude) return true;
        }
        return false;
    }

    [Fact]
    public void Many_names_through_the_head_cache_encode_as_TelemetryJson()
    {
        // More name pairs than cache slots, names that collide, grow, shrink, are rebuilt per record, or need escaping.
        var records = new List<TelemetryRecord>();
        var random = new Random(7);
        for (int i = 0; i < 5_000; i++)
        {
            string device = (i % 5) switch
            {
                0 => $"plant-7-line-3-sensor-{i % 300:D4}",
                1 => new string('d', 1 + i % 90),
                2 => "dév-ü" + (i % 3),          // escaped path
                3 => "x" + (i % 2),
                _ => $"a+b<{i % 4}>",            // characters the default encoder escapes
            };
            string metric = (i % 7) switch
            {
                0 => "coolant.temperature.celsius",
                1 => "t",
                2 => new string('m', 1 + i % TelemetryRecord.MaxMetricLength),
                3 => "x'y",
                _ => "m" + (i % 11),
            };
            double value = (i % 3) switch
            {
                0 => Math.Round(random.NextDouble() * 100, 2),
                1 => random.NextDouble() * 1e6,
                _ => -i,
            };
            records.Add(new TelemetryRecord(device, metric, value, Records.Epoch.AddMilliseconds(i * 37)) { Sequence = i % 2 == 0 ? i + 1 : null });
        }

        foreach (var encoder in new[] { TelemetryJsonEncoder.Instance, TelemetryJsonEncoder.WithSequence })
        {
            var buffer = EncodedBatch.Of(encoder, [.. records]);

            var reference = new ArrayBufferWriter<byte>();
            if (encoder == TelemetryJsonEncoder.WithSequence)
            {
                TelemetryJson.WriteBatch(reference, records.ToArray());
            }
            else
            {
                // TelemetryJson.WriteBatch writes "s" whenever a record has one; the plain encoder never does.
                TelemetryJson.WriteBatch(reference, records.Select(r => new TelemetryRecord(r.DeviceId, r.Metric, r.Value, r.Timestamp)).ToArray());
            }
            Assert.Equal(Encoding.UTF8.GetString(reference.WrittenSpan), Encoding.UTF8.GetString(buffer));
            Assert.Equal(records.Count, TelemetryJson.ReadBatch(buffer).Count);

            // The batch builder's direct entry (separator written with the record, into the pooled buffer) writes the same bytes.
            var pooled = EncodedBatch.ThroughBuilderEntry(encoder, records);
            Assert.Equal(Encoding.UTF8.GetString(reference.WrittenSpan), Encoding.UTF8.GetString(pooled));
        }
    }

    [Fact]
    public void Timestamps_through_the_seconds_cache_are_written_as_long_TryFormat_writes_them()
    {
        // TryWriteTime writes ",\"t\":" and the Unix milliseconds of a UTC tick count. Runs within one second, backwards,
        // across second and digit-count boundaries, below one second, before the epoch, sub-millisecond ticks (floored as
        // ToUnixTimeMilliseconds floors), and the ends of the DateTimeOffset range.
        long epoch = DateTimeOffset.UnixEpoch.UtcTicks, max = DateTimeOffset.MaxValue.UtcTicks;
        var values = new List<long> { 0, 1, 999, 1000, 1001, 1999, 2000, 999, 1000, 9_999, 10_000, 9_999, 99_999, 100_000, 100_999, 101_000,
            -1, -999, -1000, -1001, 1000, 1_700_000_000_000, 1_700_000_000_999, 1_700_000_001_000, 1_699_999_999_999, 1_700_000_000_000,
            9_999_999_999_999, 10_000_000_000_000, 9_999_999_999_000, 253_402_300_799_999, -62_135_596_800_000 };
        var ticks = new List<long> { 0, 1, 9_999, 10_000, max, max - 1, max - 9_999, max - 10_000, epoch - 1, epoch, epoch + 1, epoch + 9_999_999,
            epoch + 10_000_000, epoch + 10_000_001, epoch + 9_999_999, epoch + 19_999_999, epoch + 20_000_000 };
        foreach (long ms in values) ticks.Add(epoch + ms * 10_000);
        var random = new Random(18);
        long walk = 1_767_225_600_000;
        for (int i = 0; i < 200_000; i++)
        {
            walk += (i % 4) switch { 0 => random.Next(0, 3), 1 => random.Next(-1500, 1500), 2 => random.Next(0, 1000), _ => random.Next() * (long)random.Next(-3, 4) };
            walk = Math.Clamp(walk, -62_135_596_800_000, 253_402_300_799_999);
            ticks.Add(epoch + walk * 10_000 + (i % 3 == 0 ? random.Next(0, 10_000) : 0));
            if (i % 1000 == 0) ticks.Add(random.NextInt64(0, max + 1));
            if (i % 1000 == 1) ticks.Add(epoch + random.Next(-30_000_000, 30_000_000));
        }
        var table = TelemetryJsonEncoder.NewHeadTable();
        Span<byte> expected = stackalloc byte[40];
        Span<byte> actual = stackalloc byte[40];
        foreach (long tick in ticks)
        {
            long ms = new DateTimeOffset(tick, TimeSpan.Zero).ToUnixTimeMilliseconds();
            ",\"t\":"u8.CopyTo(expected);
            Assert.True(ms.TryFormat(expected[5..], out int digits, default, CultureInfo.InvariantCulture));
            int expectedLength = 5 + digits;
            actual.Fill((byte)'#');
            Assert.True(TelemetryJsonEncoder.TryWriteTime(tick, actual, table, out int actualLength));
            Assert.True(expected[..expectedLength].SequenceEqual(actual[..actualLength]),
                $"{tick} ({ms}): expected '{Encoding.ASCII.GetString(expected[..expectedLength])}', wrote '{Encoding.ASCII.GetString(actual[..actualLength])}'");
        }
        // Too little room: refused, whether or not the second is cached.
        long second = epoch + 1_700_000_000_000 * 10_000;
        Assert.True(TelemetryJsonEncoder.TryWriteTime(second, actual, table, out _));
        Assert.False(TelemetryJsonEncoder.TryWriteTime(second + 10_000, actual[..17], table, out _));
        Assert.False(TelemetryJsonEncoder.TryWriteTime(second + 100_000_000, actual[..17], table, out _));
        // The exact room (5 + 13 bytes) is enough off the cache; the cached path wants its two blocks of room, and otherwise
        // takes the formatting path, which still fits.
        Assert.True(TelemetryJsonEncoder.TryWriteTime(second + 200_000_000, actual[..18], table, out int exact));
        Assert.Equal(18, exact);
        Assert.True(TelemetryJsonEncoder.TryWriteTime(second + 200_010_000, actual[..18], table, out exact));
        Assert.Equal(",\"t\":1700000020001", Encoding.ASCII.GetString(actual[..exact]));
    }

    [Fact]
    public void Records_with_timestamps_in_and_across_seconds_encode_as_TelemetryJson()
    {
        // Both entries (the pipeline's, with its own table, and the IBufferWriter one, with the thread's), every offset,
        // timestamps before 1970 and within its first second, runs of one second and jumps back.
        var random = new Random(1818);
        var start = new DateTimeOffset(2026, 12, 8, 0, 0, 59, 990, TimeSpan.Zero);
        var records = new List<TelemetryRecord>();
        for (int i = 0; i < 20_000; i++)
        {
            var timestamp = (i % 10) switch
            {
                0 => DateTimeOffset.UnixEpoch.AddMilliseconds(random.Next(-2500, 2500)),
                1 => start.AddMilliseconds(-i),
                2 => start.ToOffset(TimeSpan.FromMinutes(random.Next(-14 * 60, 14 * 60))).AddMilliseconds(i / 3),
                3 => DateTimeOffset.MaxValue.AddMilliseconds(-random.Next(0, 3000)),
                4 => DateTimeOffset.MinValue.AddMilliseconds(random.Next(0, 3000)),
                _ => start.AddMilliseconds(i / 7),
            };
            records.Add(new TelemetryRecord("plant-7-line-3-sensor-0001", "coolant.temperature.celsius", 20 + (i % 1000) / 100.0, timestamp));
        }
        var reference = new ArrayBufferWriter<byte>();
        TelemetryJson.WriteBatch(reference, records.ToArray());
        var encoder = TelemetryJsonEncoder.Instance;

        var buffer = EncodedBatch.Of(encoder, [.. records]);
        Assert.Equal(Encoding.UTF8.GetString(reference.WrittenSpan), Encoding.UTF8.GetString(buffer));

        var pooled = EncodedBatch.ThroughBuilderEntry(encoder, records);
        Assert.Equal(Encoding.UTF8.GetString(reference.WrittenSpan), Encoding.UTF8.GetString(pooled));
        // Decoded back to the same instants (the offset is not part of the wire format).
        Assert.Equal(records.Select(r => r.Timestamp.ToUnixTimeMilliseconds()), TelemetryJson.ReadBatch(pooled).Select(r => r.Timestamp.ToUnixTimeMilliseconds()));
    }

    /// <summary>True when the fast path wrote the value (and it matched).</summary>
    private static bool AssertSameAsTryFormat(double value)
    {
        Span<byte> expected = stackalloc byte[64];
        Assert.True(value.TryFormat(expected, out int expectedLength, default, CultureInfo.InvariantCulture));
        Span<byte> actual = stackalloc byte[64];
        if (TelemetryJsonEncoder.TryWriteShortDecimal(value, actual, out int actualLength))
        {
            Assert.True(expected[..expectedLength].SequenceEqual(actual[..actualLength]),
                $"{value:R} ({BitConverter.DoubleToInt64Bits(value):X16}): expected '{Encoding.ASCII.GetString(expected[..expectedLength])}', wrote '{Encoding.ASCII.GetString(actual[..actualLength])}'");
            return true;
        }
        return false;
    }
}
