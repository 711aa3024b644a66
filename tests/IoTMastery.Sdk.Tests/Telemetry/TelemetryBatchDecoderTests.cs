using System.Buffers;
using System.Text;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Telemetry;

/// <summary>
/// The shared fleet-side decoder: every record the encoders write comes back equal (whatever the names contain and however
/// the payload is split into segments), malformed batches fail with a <see cref="FormatException"/> that leaves the caller's
/// list untouched and does not quote the payload, and a reused list decodes without allocating.
/// </summary>
public sealed class TelemetryBatchDecoderTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);

    // Every character each provider allows in a device id (DeviceIdRules), plus names that need JSON escaping or are not ASCII.
    private static readonly string[] Names =
    [
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_.-",
        "azure-%_*?!(),:=@$'",
        "gcp+~%-_." + new string('g', 246),
        "quote\"back\\slash/solidus",
        "html<>&'+`",
        "controls\u0001\u001f\t\n\r\b\f",
        "température-ünïcode",
        "温度センサー",
        "emoji-🌡️-👩‍🔧",
        "\u00a0\u2028\u2029\ufeff",
        "x",
    ];

    public static TheoryData<string> NameData() => [.. Names];

    private static TelemetryRecord[] HardRecords()
    {
        var records = new List<TelemetryRecord>();
        double[] values = [0, -0.0, 21.5, -3e5, double.MaxValue, double.MinValue, double.Epsilon, 1e-300, 0.1 + 0.2, 123456789.123456789];
        long[] times = [-62_135_596_800_000, 0, 1_700_000_000_123, 253_402_300_799_999];
        int i = 0;
        foreach (var device in Names)
            foreach (var metric in Names)
            {
                var record = new TelemetryRecord(device, metric[..Math.Min(metric.Length, TelemetryRecord.MaxMetricLength)], values[i % values.Length],
                    DateTimeOffset.FromUnixTimeMilliseconds(times[i % times.Length]));
                records.Add(i % 3 == 0 ? record with { Sequence = long.MaxValue - i } : record);
                i++;
            }
        return [.. records];
    }

    private static byte[] WriteBatch(ReadOnlySpan<TelemetryRecord> records)
    {
        var output = new ArrayBufferWriter<byte>();
        TelemetryJson.WriteBatch(output, records);
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void Every_encoder_round_trips_hard_names_values_timestamps_and_sequences()
    {
        var records = HardRecords();
        foreach (var payload in new[] { WriteBatch(records), EncodedBatch.Of(TelemetryJsonEncoder.WithSequence, records) })
        {
            var decoded = new List<TelemetryRecord>();
            Assert.Equal(records.Length, new TelemetryBatchDecoder().Decode(payload, decoded));
            Assert.Equal(records, decoded);
        }
        // Without sequences the encoder drops "s", and the decoder leaves Sequence unset.
        var plain = new List<TelemetryRecord>();
        TelemetryRecord.DecodeBatch(EncodedBatch.Of(TelemetryJsonEncoder.Instance, records), plain);
        Assert.Equal(records.Select(r => r with { Sequence = null }), plain);
    }

    [Theory]
    [MemberData(nameof(NameData))]
    public void A_payload_split_at_every_byte_decodes_as_the_whole(string name)
    {
        var records = new[]
        {
            new TelemetryRecord(name, "m\\\"" + name[..Math.Min(name.Length, 100)], -1.25e-7, T0) { Sequence = 42 },
            new TelemetryRecord("plain-device", "temp", 20.5, T0),
        };
        var payload = EncodedBatch.Of(TelemetryJsonEncoder.WithSequence, records);
        for (int split = 1; split < payload.Length; split++)
        {
            var decoded = new List<TelemetryRecord>();
            Assert.Equal(2, TelemetryRecord.DecodeBatch(SegmentedSequence.SplitAt(payload, split), decoded));
            Assert.Equal(records, decoded);
        }
        var oneByteSegments = new List<TelemetryRecord>();
        TelemetryRecord.DecodeBatch(SegmentedSequence.Split(payload, 1), oneByteSegments);
        Assert.Equal(records, oneByteSegments);
    }

    [Fact]
    public void A_huge_batch_and_names_longer_than_the_cache_limit_decode()
    {
        var longName = string.Concat(Enumerable.Repeat("Ωx\"", 200));
        var records = Enumerable.Range(0, 100_000)
            .Select(i => new TelemetryRecord(i % 1000 == 0 ? longName : $"device-{i % 977}", $"metric-{i % 13}", i * 0.5, T0.AddMilliseconds(i)) { Sequence = i + 1 })
            .ToArray();
        var decoded = new List<TelemetryRecord>();
        new TelemetryBatchDecoder().Decode(EncodedBatch.Of(TelemetryJsonEncoder.WithSequence, records), decoded);
        Assert.Equal(records, decoded);
    }

    [Fact]
    public void Unknown_fields_are_skipped_up_to_the_depth_limit_and_escaped_keys_are_recognised()
    {
        var decoded = new List<TelemetryRecord>();
        TelemetryRecord.DecodeBatch("""[{"x":{"y":[1,2]},"\u0064":"dev","m":"temp","\u0076":1.5,"t":7,"z":"w"}]"""u8, decoded);
        Assert.Equal(new TelemetryRecord("dev", "temp", 1.5, DateTimeOffset.FromUnixTimeMilliseconds(7)), Assert.Single(decoded));

        var tooDeep = """[{"d":"dev","m":"temp","v":1,"t":7,"x":{"y":[[1]]}}]"""u8.ToArray();
        Assert.Throws<FormatException>(() => TelemetryRecord.DecodeBatch(tooDeep, decoded));
    }

    public static TheoryData<string, string> Malformed() => new()
    {
        { "", "JSON" },
        { "   ", "JSON" },
        { "{\"d\":\"SECRET\",\"m\":\"t\",\"v\":1,\"t\":1}", "array" },
        { "[1]", "objects" },
        { "[\"SECRET\"]", "objects" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":1,\"t\":1}", "JSON" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":1,\"t\":1}]]", "JSON" },
        { "[]SECRET", "JSON" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":1}]", "lacks" },
        { "[{\"d\":\"SECRET\",\"v\":1,\"t\":1}]", "lacks" },
        { "[{\"d\":7,\"m\":\"t\",\"v\":1,\"t\":1}]", "d must be a string" },
        { "[{\"d\":\"\",\"m\":\"t\",\"v\":1,\"t\":1}]", "empty" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":\"1\",\"t\":1}]", "finite" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":1e400,\"t\":1}]", "finite" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":NaN,\"t\":1}]", "JSON" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":1,\"t\":1.5}]", "Unix milliseconds" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":1,\"t\":253402300800000}]", "Unix milliseconds" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":1,\"t\":1,\"s\":0}]", "positive" },
        { "[{\"d\":\"SECRET\",\"m\":\"t\",\"v\":1,\"t\":1,\"s\":-4}]", "positive" },
        { "[{\"d\":\"SECRET\\ud800\",\"m\":\"t\",\"v\":1,\"t\":1}]", "UTF" },
        { "[{\"d\":\"SECRET\",\"m\":\"" + new string('m', 129) + "\",\"v\":1,\"t\":1}]", "at most 128" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_batches_throw_FormatException_leave_the_list_as_it_was_and_do_not_quote_the_payload(string json, string reason)
    {
        var sentinel = new TelemetryRecord("kept", "kept", 1, T0);
        var output = new List<TelemetryRecord> { sentinel };
        // A valid record first, so a failure must also take back what it already appended.
        var payload = Encoding.UTF8.GetBytes(json.StartsWith('[') && json.Length > 2
            ? "[{\"d\":\"ok\",\"m\":\"ok\",\"v\":1,\"t\":1}," + json[1..]
            : json);
        var ex = Assert.Throws<FormatException>(() => TelemetryRecord.DecodeBatch(payload, output));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", ex.Message, StringComparison.Ordinal);
        Assert.Equal(new[] { sentinel }, output);
        // The multi-segment path reports the same.
        Assert.Throws<FormatException>(() => TelemetryRecord.DecodeBatch(SegmentedSequence.Split(payload, 1), output));
        Assert.Equal(new[] { sentinel }, output);
    }

    [Fact]
    public void Invalid_utf8_inside_a_name_is_a_FormatException()
    {
        byte[] payload = [.. "[{\"d\":\"a"u8, 0xC3, 0x28, .. "\",\"m\":\"t\",\"v\":1,\"t\":1}]"u8];
        var output = new List<TelemetryRecord>();
        Assert.Throws<FormatException>(() => TelemetryRecord.DecodeBatch(payload, output));
        Assert.Empty(output);
    }

    [Fact]
    public void Names_are_interned_up_to_the_bound_and_decoded_exactly_beyond_it()
    {
        var payload = EncodedBatch.Of(TelemetryJsonEncoder.Instance, [new TelemetryRecord("dev-1", "temp", 1, T0), new TelemetryRecord("dev-2", "temp", 2, T0)]);
        var cached = new TelemetryBatchDecoder(maxCachedStrings: 2);
        List<TelemetryRecord> first = [], second = [];
        cached.Decode(payload, first);
        cached.Decode(payload, second);
        Assert.Same(first[0].DeviceId, second[0].DeviceId);
        Assert.Same(first[0].Metric, second[1].Metric);
        // dev-2 came third, past the bound of two: still decoded, just not interned.
        Assert.Equal("dev-2", second[1].DeviceId);
        Assert.NotSame(first[1].DeviceId, second[1].DeviceId);

        var uncached = new TelemetryBatchDecoder(maxCachedStrings: 0);
        List<TelemetryRecord> a = [], b = [];
        uncached.Decode(payload, a);
        uncached.Decode(payload, b);
        Assert.Equal(a, b);
        Assert.NotSame(a[0].DeviceId, b[0].DeviceId);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TelemetryBatchDecoder(-1));
    }

    [Fact]
    public async Task Threads_sharing_one_decoder_all_decode_every_name_exactly()
    {
        // More distinct names than cache room, so threads race on interning, on the fast table and past the bound.
        var records = Enumerable.Range(0, 3000).Select(i => new TelemetryRecord($"dev-{i}", $"m-{i % 7}", i, T0)).ToArray();
        var payload = EncodedBatch.Of(TelemetryJsonEncoder.Instance, records);
        var decoder = new TelemetryBatchDecoder(maxCachedStrings: 1000);
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            var output = new List<TelemetryRecord>();
            for (int round = 0; round < 20; round++)
            {
                output.Clear();
                decoder.Decode(payload, output);
                Assert.Equal(records, output);
            }
        }));
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(2));
    }

    [Fact]
    public void Decoding_into_a_reused_list_allocates_nothing_in_steady_state()
    {
        var records = Enumerable.Range(0, 512)
            .Select(i => new TelemetryRecord($"plant-7-line-3-sensor-{i % 100:D4}", i % 2 == 0 ? "coolant.temperature.celsius" : "température", 20 + i * 0.01, T0.AddMilliseconds(i)) { Sequence = i + 1 })
            .ToArray();
        var payload = EncodedBatch.Of(TelemetryJsonEncoder.WithSequence, records);
        var sequence = SegmentedSequence.SplitAt(payload, payload.Length / 2);
        // A fresh decoder, not TelemetryRecord.DecodeBatch's process-wide one: other tests in this process (fuzzing, huge
        // batches) may have filled the shared cache's bound, and names past the bound are allocated by design. The public
        // method only forwards to the shared instance; DecodeBenchmarks measures it in a clean process.
        var decoder = new TelemetryBatchDecoder();
        var output = new List<TelemetryRecord>(records.Length);
        var spanBytes = Allocations.SteadyStateBytes(_ =>
        {
            for (int round = 0; round < 20; round++)
            {
                output.Clear();
                decoder.Decode(payload, output);
            }
        });
        var sequenceBytes = Allocations.SteadyStateBytes(_ =>
        {
            for (int round = 0; round < 20; round++)
            {
                output.Clear();
                decoder.Decode(sequence, output);
            }
        });
        Assert.Equal((0, 0), (spanBytes, sequenceBytes));
        Assert.Equal(records, output);
    }

    [Fact]
    public void ReadBatch_is_the_shared_decoder_into_a_new_list()
    {
        var records = HardRecords();
        Assert.Equal(records, TelemetryJson.ReadBatch(WriteBatch(records)));
        Assert.Throws<FormatException>(() => TelemetryJson.ReadBatch("[{]"u8));
    }
}
