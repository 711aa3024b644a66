using System.Buffers;
using System.Globalization;
using System.Text;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Telemetry;

/// <summary>
/// The decoder's compact path (a byte scanner for the exact shape the encoder writes) against its general path
/// (<see cref="System.Text.Json.Utf8JsonReader"/> over the whole batch, <c>DecodeWithReader</c>): for every input, generated
/// or hand-written, valid or not, whole or split into segments at every byte, both give the same records (value bits
/// included, so negative zero counts) or the same exception with the same message, and a failure leaves the list as it was.
/// </summary>
public sealed class TelemetryBatchDecoderCompactPathTests
{
    private const string Good = """{"d":"dev-1","m":"temp","v":21.5,"t":1700000000123}""";

    // Every character a provider allows in a device id, names that need escapes, non-ASCII, and the cache's length edges.
    private static readonly string[] Names =
    [
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_.-",
        "azure-%_*?!(),:=@$'#",
        "gcp+~%-_." + new string('g', 246),
        "aws:_-#$/{}[]|^`",
        "quote\"back\\slash/solidus",
        "html<>&'+`",
        "controls\u0001\u001f\t\n\r\b\f\u007f",
        "température-ünïcode",
        "温度センサー",
        "emoji-🌡️-👩‍🔧",
        "\u00a0\u2028\u2029\ufeff",
        "x",
        new string('é', 128),
        new string('m', 128),
        new string('d', 256),
        new string('d', 257),
    ];

    private static readonly double[] Values =
    [
        0, -0.0, 21.5, -21.5, 1, -1, 0.1, 0.1 + 0.2, 123.456, -3e5, 1e14, 1e15, 1e16, 1e21, 1e22, 1e23, 999999999999999, 99999999999999.9,
        0.000001, 0.0001, 1e-5, 1e-7, 123456789.123456789, 9007199254740992, 9007199254740993, double.MaxValue, double.MinValue,
        double.Epsilon, 1e-300, 2.2250738585072014e-308, 5e-324, Math.PI, -Math.E, 0.3, 1.0000000000000002,
    ];

    private static readonly long[] Times = [-62_135_596_800_000, -1, 0, 1, 1_700_000_000_123, 999_999_999_999_999 % 253_402_300_799_999, 253_402_300_799_999];

    private static readonly long[] Sequences = [1, 9, 10, 999_999_999_999_999_999, 1_000_000_000_000_000_000, long.MaxValue];

    private static TelemetryRecord[] GeneratedRecords()
    {
        var records = new List<TelemetryRecord>();
        int i = 0;
        foreach (var device in Names)
            foreach (var metric in Names.Where(n => n.Length <= TelemetryRecord.MaxMetricLength))
            {
                var record = new TelemetryRecord(device, metric, Values[i % Values.Length], DateTimeOffset.FromUnixTimeMilliseconds(Times[i % Times.Length]));
                records.Add(i % 4 == 3 ? record : record with { Sequence = Sequences[i % Sequences.Length] });
                i++;
            }
        foreach (var value in Values)
            records.Add(new TelemetryRecord("plain", "value", value, DateTimeOffset.FromUnixTimeMilliseconds(7)) { Sequence = 3 });
        return [.. records];
    }

    // Record texts that differ from the compact shape in one way each; most are valid, some are not.
    private static IEnumerable<string> HardRecordTexts()
    {
        string[] numbers =
        [
            "0", "-0", "0.0", "-0.0", "-0.000", "1", "-1", "21.5", "1e5", "1E+5", "1e-5", "-0e0", "1.0e-3", "123456789012345", "-123456789012345",
            "1234567890123456", "12345678901234567", "12345678901234567890", "0.123456789012345", "0.1234567890123456", "0.1234567890123456789",
            "99999999999999.9", "9007199254740993", "1.7976931348623157e308", "1.7976931348623159e308", "1e400", "-1e400", "4.9e-324", "1e-400",
            "0.30000000000000004", "100000000000000000000000", "01", "00", "-01", "1.", ".5", "-", "+1", "1.5.5", "0x10", "Infinity", "NaN", "1e", "1e+",
            "\"1\"", "null", "true", "[1]", "{}", "1 ", " 1",
        ];
        foreach (var v in numbers) yield return $$"""{"d":"dev-1","m":"temp","v":{{v}},"t":5}""";
        string[] integers =
        [
            "0", "-0", "1", "-1", "1.0", "1e3", "-62135596800000", "-62135596800001", "253402300799999", "253402300800000", "999999999999999",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "99999999999999999999", "00", "01", "\"1\"", "null", "1.5",
        ];
        foreach (var t in integers) yield return $$"""{"d":"dev-1","m":"temp","v":1,"t":{{t}}}""";
        foreach (var s in integers.Append("999999999999999999").Append("1000000000000000000"))
            yield return $$"""{"d":"dev-1","m":"temp","v":1,"t":5,"s":{{s}}}""";
        string[] names =
        [
            "", "d\\u0065v", "\\\"", "\\\\", "\\/", "é", "\\u00e9", "\\ud83c\\udf21", "\\ud800", "\\udc00x", "tab\there", "a\\tb", "a b",
            new string('m', 128), new string('m', 129), new string('é', 128), new string('é', 129), new string('d', 256), new string('d', 300),
            "温度", "\\u0000", "trailing\\", "d\\u0", "\u2028",
        ];
        foreach (var n in names)
        {
            yield return $$"""{"d":"{{n}}","m":"temp","v":1,"t":5}""";
            yield return $$"""{"d":"dev-1","m":"{{n}}","v":1,"t":5}""";
        }
        yield return """{"d":7,"m":"temp","v":1,"t":5}""";
        yield return """{"d":null,"m":"temp","v":1,"t":5}""";
        yield return """{"d":"dev-1","m":["temp"],"v":1,"t":5}""";
        // Order, presence, duplicates and unknown fields.
        yield return """{"m":"temp","d":"dev-1","v":1,"t":5}""";
        yield return """{"d":"dev-1","m":"temp","t":5,"v":1}""";
        yield return """{"s":4,"d":"dev-1","m":"temp","v":1,"t":5}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"s":4,"t":5}""";
        yield return """{"d":"dev-1","m":"temp","v":1}""";
        yield return """{"d":"dev-1","m":"temp","t":5}""";
        yield return """{"d":"dev-1","v":1,"t":5}""";
        yield return """{"m":"temp","v":1,"t":5}""";
        yield return """{}""";
        yield return """{"d":"dev-1","d":"dev-2","m":"temp","v":1,"t":5}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5,"d":"dev-2"}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"v":2,"t":5}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5,"s":4,"s":5}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5,"x":1}""";
        yield return """{"x":"y","d":"dev-1","m":"temp","v":1,"t":5}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5,"x":{"y":[1]}}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5,"x":{"y":[[1]]}}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5,"x":[[[]]]}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5,"x":[[]]}""";
        yield return """{"\u0064":"dev-1","m":"temp","\u0076":1,"t":5}""";
        yield return """{"dd":"dev-1","m":"temp","v":1,"t":5}""";
        yield return """{"D":"dev-1","m":"temp","v":1,"t":5}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5,}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5]""";
        yield return """{"d":"dev-1" "m":"temp","v":1,"t":5}""";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5}}""";
        // Whitespace inside a record.
        yield return """{ "d":"dev-1","m":"temp","v":1,"t":5}""";
        yield return """{"d" : "dev-1", "m":"temp","v": 1 ,"t":5 }""";
        yield return "{\"d\":\"dev-1\",\r\n\t\"m\":\"temp\",\"v\":1,\"t\":5\n}";
        yield return """{"d":"dev-1","m":"temp","v":1,"t":5,"s":4 }""";
        yield return "{\"d\":\"dev-1\",\"m\":\"temp\",\"v\":1,\"t\":5\u000b}";
    }

    // Whole batches: structure around the records, and the records above in context.
    private static IEnumerable<byte[]> HardBatches()
    {
        var good = Good;
        foreach (var record in HardRecordTexts())
        {
            yield return Utf8($"[{record}]");
            yield return Utf8($"[{good},{record},{good}]");
        }
        string[] batches =
        [
            "", " ", "[", "]", "[]", "[ ]", " [ ] ", "[]\n", "[] x", "[][]", "[,]", "[" + good + ",]", "[" + good + "," + good,
            "[" + good + good + "]", "[" + good + "] ", "[" + good + "]]", "[" + good + "],", "\t[\n" + good + " ,\r\n " + good + "\n]\n",
            "[" + good + "]\u000b", "[1]", "[null]", "[[]]", "[\"x\"]", "[{}]", "{\"d\":\"dev-1\",\"m\":\"temp\",\"v\":1,\"t\":5}", good,
            "[" + good + ",1]", "[" + good + ",[]]", "[" + good + " " + good + "]", "[" + good + ",,", "[" + good + "]/*c*/",
        ];
        foreach (var batch in batches) yield return Utf8(batch);
        yield return [0xEF, 0xBB, 0xBF, .. Utf8("[" + good + "]")];
        // Raw bytes that are not valid UTF-8 inside names: a stray continuation, an overlong '/', a surrogate, a truncated sequence.
        byte[][] invalid = [[0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE6, 0xB8], [0xFF], [0xF4, 0x90, 0x80, 0x80]];
        foreach (var bytes in invalid)
        {
            yield return [.. Utf8("[" + good + ",{\"d\":\"a"), .. bytes, .. Utf8("\",\"m\":\"temp\",\"v\":1,\"t\":5}]")];
            yield return [.. Utf8("[{\"d\":\"dev-1\",\"m\":\"t"), .. bytes, .. Utf8("\",\"v\":1,\"t\":5}]")];
        }
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    // What one decode did: the records (as comparable text, value bits included) or the exception's type and message.
    private static string Outcome(Func<List<TelemetryRecord>, int> decode)
    {
        var sentinel = new TelemetryRecord("kept", "kept", 1, DateTimeOffset.UnixEpoch);
        var output = new List<TelemetryRecord> { sentinel };
        try
        {
            int count = decode(output);
            Assert.Equal(count, output.Count - 1);
        }
        catch (Exception ex)
        {
            // A failure takes back everything it appended.
            Assert.Equal([sentinel], output);
            return $"{ex.GetType().Name}: {ex.Message}";
        }
        Assert.Equal(sentinel, output[0]);
        var text = new StringBuilder();
        foreach (var r in output.Skip(1))
            text.Append(CultureInfo.InvariantCulture, $"[{r.DeviceId}|{r.Metric}|{BitConverter.DoubleToInt64Bits(r.Value):X16}|{r.Timestamp.UtcTicks}|{r.Timestamp.Offset}|{r.Sequence}]");
        return text.ToString();
    }

    // Twice per decoder, so both a name table miss and a hit are compared.
    private static void AssertSameAsReader(byte[] payload, TelemetryBatchDecoder compact, TelemetryBatchDecoder reference, bool everySplit)
    {
        var expected = Outcome(list => reference.DecodeWithReader(payload, list));
        Assert.Equal(expected, Outcome(list => compact.Decode(payload, list)));
        Assert.Equal(expected, Outcome(list => compact.Decode(payload, list)));
        if (!everySplit || payload.Length < 2) return;
        for (int split = 1; split < payload.Length; split++)
        {
            var segments = SegmentedSequence.SplitAt(payload, split);
            var expectedSplit = Outcome(list => reference.DecodeWithReader(segments, list));
            Assert.Equal(expectedSplit, Outcome(list => compact.Decode(segments, list)));
        }
        var bytes = SegmentedSequence.Split(payload, 1);
        Assert.Equal(Outcome(list => reference.DecodeWithReader(bytes, list)), Outcome(list => compact.Decode(bytes, list)));
    }

    [Fact]
    public void Encoded_batches_of_hard_names_values_times_and_sequences_decode_as_the_reader_decodes_them()
    {
        var records = GeneratedRecords();
        var compact = new TelemetryBatchDecoder();
        var reference = new TelemetryBatchDecoder();
        foreach (var encoder in new[] { TelemetryJsonEncoder.Instance, TelemetryJsonEncoder.WithSequence })
        {
            var payload = EncodedBatch.Of(encoder, records);
            AssertSameAsReader(payload, compact, reference, everySplit: false);
            // The values must also be the ones written, bit for bit (negative zero included).
            var decoded = new List<TelemetryRecord>();
            compact.Decode(payload, decoded);
            Assert.Equal(records.Select(r => BitConverter.DoubleToInt64Bits(r.Value)), decoded.Select(r => BitConverter.DoubleToInt64Bits(r.Value)));
            Assert.Equal(encoder == TelemetryJsonEncoder.WithSequence ? records : records.Select(r => r with { Sequence = null }), decoded);
            // Small batches split at every byte, through the pooled copy and through the reader.
            for (int at = 0; at + 3 <= records.Length; at += 97)
                AssertSameAsReader(EncodedBatch.Of(encoder, records.AsSpan(at, 3)), compact, reference, everySplit: true);
        }
    }

    [Fact]
    public void Hand_written_hard_records_and_batches_decode_or_fail_as_the_reader_does()
    {
        var compact = new TelemetryBatchDecoder();
        var reference = new TelemetryBatchDecoder();
        int batches = 0;
        foreach (var payload in HardBatches())
        {
            AssertSameAsReader(payload, compact, reference, everySplit: true);
            batches++;
        }
        Assert.True(batches > 300);
    }

    [Fact]
    public void Every_truncation_of_a_batch_fails_as_the_reader_fails()
    {
        var records = GeneratedRecords().Take(6).ToArray();
        var payload = EncodedBatch.Of(TelemetryJsonEncoder.WithSequence, records);
        var compact = new TelemetryBatchDecoder();
        var reference = new TelemetryBatchDecoder();
        for (int length = 0; length <= payload.Length; length++)
            AssertSameAsReader(payload[..length], compact, reference, everySplit: false);
    }

    [Fact]
    public void Randomly_mutated_batches_decode_or_fail_as_the_reader_does()
    {
        var records = Enumerable.Range(0, 4)
            .Select(i => new TelemetryRecord($"dev-{i}", i % 2 == 0 ? "temp" : "tempé", i * 1.25 - 2, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + i)) { Sequence = i + 1 })
            .ToArray();
        var payload = EncodedBatch.Of(TelemetryJsonEncoder.WithSequence, records);
        byte[] alphabet = [.. "{}[]\",:.-+eE0123456789 \\dmvtsux"u8, 0x00, 0x1F, 0x80, 0xC3, 0xA9, 0xFF];
        var random = new Random(18);
        var compact = new TelemetryBatchDecoder();
        var reference = new TelemetryBatchDecoder();
        for (int round = 0; round < 4000; round++)
        {
            var mutated = new List<byte>(payload);
            for (int edits = random.Next(1, 4); edits > 0; edits--)
            {
                int at = random.Next(mutated.Count);
                switch (random.Next(3))
                {
                    case 0: mutated[at] = alphabet[random.Next(alphabet.Length)]; break;
                    case 1: mutated.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                    default: mutated.RemoveAt(at); break;
                }
            }
            AssertSameAsReader([.. mutated], compact, reference, everySplit: round % 50 == 0);
        }
    }

    [Fact]
    public void A_decoder_without_a_name_cache_decodes_the_compact_shape_through_the_reader()
    {
        var payload = EncodedBatch.Of(TelemetryJsonEncoder.WithSequence, GeneratedRecords());
        AssertSameAsReader(payload, new TelemetryBatchDecoder(maxCachedStrings: 0), new TelemetryBatchDecoder(), everySplit: false);
        AssertSameAsReader(payload, new TelemetryBatchDecoder(maxCachedStrings: 3), new TelemetryBatchDecoder(), everySplit: false);
    }

    [Fact]
    public void A_bare_record_object_still_decodes_and_an_array_takes_the_same_path_as_Decode()
    {
        var decoder = new TelemetryBatchDecoder();
        var output = new List<TelemetryRecord>();
        Assert.Equal(1, decoder.DecodeArrayOrObject(Utf8(Good), output));
        Assert.Equal(2, decoder.DecodeArrayOrObject(Utf8($"[{Good},{Good}]"), output));
        Assert.Equal(3, output.Count);
        Assert.All(output, r => Assert.Equal(new TelemetryRecord("dev-1", "temp", 21.5, DateTimeOffset.FromUnixTimeMilliseconds(1700000000123)), r));
    }
}
