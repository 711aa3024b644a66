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
            var buffer = new ArrayBufferWriter<byte>();
            buffer.Write(encoder.BatchPrefix);
            for (int i = 0; i < records.Count; i++)
            {
                if (i > 0) buffer.Write(encoder.RecordSeparator);
                encoder.WriteRecord(buffer, records[i]);
            }
            buffer.Write(encoder.BatchSuffix);

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
            Assert.Equal(Encoding.UTF8.GetString(reference.WrittenSpan), Encoding.UTF8.GetString(buffer.WrittenSpan));
            Assert.Equal(records.Count, TelemetryJson.ReadBatch(buffer.WrittenSpan).Count);

            // The batch builder's direct entry (separator written with the record, into the pooled buffer) writes the same bytes.
            using var pooled = new PooledBufferWriter(16);
            pooled.Write(encoder.BatchPrefix);
            var heads = TelemetryJsonEncoder.NewHeadTable();
            for (int i = 0; i < records.Count; i++) encoder.WriteRecord(pooled, records[i], separator: i > 0, heads);
            pooled.Write(encoder.BatchSuffix);
            Assert.Equal(Encoding.UTF8.GetString(reference.WrittenSpan), Encoding.UTF8.GetString(pooled.WrittenSpan));
        }
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
