using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Tests.Fuzz;

/// <summary>Seeded fuzzing of the core parsers: only their documented typed errors, never a crash or a hang.</summary>
public sealed class CoreParserFuzzTests
{
    private const int Mutations = 3000;

    private static readonly string[] BatchSeeds =
    [
        "[{\"d\":\"dev-1\",\"m\":\"temp\",\"v\":21.5,\"t\":1700000000000,\"s\":1},{\"d\":\"dev-1\",\"m\":\"hum\",\"v\":-3e5,\"t\":0}]",
        "[{\"d\":\"a\",\"m\":\"b\",\"v\":0,\"t\":-62135596800000,\"x\":{\"y\":[1,2]}}]",
        "[]",
    ];

    private static readonly string[] FirmwareSeeds =
    [
        "{\"version\":\"1.2.3\",\"uri\":\"https://fw.example/1.2.3.bin\",\"sha256\":\"" + new string('a', 64) + "\",\"size\":1024,\"rolloutId\":\"r1\",\"signature\":null}",
        "{\"version\":\"1.2.3\",\"targetVersion\":\"2.0\",\"status\":\"downloading\",\"rolloutId\":\"r1\",\"error\":null}",
        "{\"firmware\":{\"version\":\"1.0\",\"status\":\"failed\",\"error\":\"bad hash\"},\"temp\":3}",
    ];

    [Fact]
    public void TelemetryJson_ReadBatch_throws_only_FormatException()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(1, Mutations, BatchSeeds), input => TelemetryJson.ReadBatch(input), ex => ex is FormatException);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void FirmwareStateContract_parsers_throw_only_FormatException()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(2, Mutations, FirmwareSeeds), input =>
        {
            if (ParseOrNull(input) is not { } node) return;
            Assert.Null(Record.Exception(() => FirmwareStateContract.TryGetReported(node as JsonObject)));
            Expect<FormatException>(() => FirmwareStateContract.ParseReported(node));
            FirmwareStateContract.ParseDesired(node);
        }, ex => ex is FormatException);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void JsonMergePatch_throws_only_the_lazy_parse_errors_of_a_malformed_node()
    {
        var target = JsonNode.Parse(FirmwareSeeds[2])!;
        var failures = FuzzInputs.Run(FuzzInputs.For(3, Mutations, FirmwareSeeds), input =>
        {
            if (ParseOrNull(input) is not { } patch) return;
            var result = JsonMergePatch.Apply(target, patch);
            if (patch is JsonObject p)
            {
                Assert.IsType<JsonObject>(result);
                // Fresh copies: the result holds no node of the patch, so it can be re-parented.
                Assert.Null(JsonMergePatch.Apply((JsonObject)target, p).Parent);
            }
        }, ex => (ex is ArgumentException && ex.Message.Contains("same key", StringComparison.Ordinal))
            || (ex is InvalidOperationException && ex.Message.Contains("UTF-", StringComparison.Ordinal)));
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void OutboxFrame_Decode_of_a_frame_with_a_matching_crc_throws_only_InvalidDataException()
    {
        var frame = new byte[256];
        int length = OutboxFrame.Write(frame, 7, new TelemetryRecord("dev-1", "temp", 21.5, DateTimeOffset.UnixEpoch));
        var valid = frame[..length];
        var random = new Random(4);
        var inputs = Enumerable.Range(0, Mutations).Select(_ =>
        {
            // Mutate header+payload, then make length and CRC consistent, as a bug or a colliding CRC would.
            var body = valid[..^4];
            for (int r = 0; r < 1 + random.Next(3); r++) body = MutateBinary(random, body);
            if (body.Length < OutboxFrame.HeaderBytes) body = [.. body, .. new byte[OutboxFrame.HeaderBytes - body.Length]];
            BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)(body.Length - OutboxFrame.HeaderBytes));
            var crc = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(crc, Crc32.HashToUInt32(body));
            return (byte[])[.. body, .. crc];
        }).Prepend(valid);
        var failures = FuzzInputs.Run(inputs, input =>
        {
            Assert.True(OutboxFrame.IsIntact(input));
            OutboxFrame.Decode(input);
        }, ex => ex is InvalidDataException);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void OutboxFrame_FrameLength_is_minus_one_or_a_bounded_length_for_any_header()
    {
        var random = new Random(5);
        var header = new byte[OutboxFrame.HeaderBytes];
        for (int i = 0; i < 20_000; i++)
        {
            random.NextBytes(header);
            if (i % 4 == 0) BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)random.Next(0, OutboxFrame.MaxPayloadBytes + 100));
            int length = OutboxFrame.FrameLength(header);
            Assert.True(length == -1 || length is >= OutboxFrame.OverheadBytes and <= OutboxFrame.MaxPayloadBytes + OutboxFrame.OverheadBytes, $"length {length}");
        }
    }

    [Fact]
    public void OutboxFrameReader_reports_a_status_for_any_corrupted_segment_bytes()
    {
        var frames = new List<byte>();
        var buffer = new byte[256];
        for (int i = 0; i < 20; i++)
            frames.AddRange(buffer.AsSpan(0, OutboxFrame.Write(buffer, i + 1, new TelemetryRecord("dev-" + i, "m", i, DateTimeOffset.UnixEpoch))).ToArray());
        var valid = frames.ToArray();
        var random = new Random(6);
        var path = Path.Combine(Path.GetTempPath(), $"fuzz-outbox-{Guid.NewGuid():N}.seg");
        try
        {
            for (int i = 0; i < 300; i++)
            {
                var bytes = valid;
                for (int r = 0; r < 1 + random.Next(4); r++) bytes = MutateBinary(random, bytes);
                File.WriteAllBytes(path, bytes);
                using var handle = File.OpenHandle(path);
                var reader = new OutboxFrameReader();
                long offset = 0;
                for (int step = 0; step < 100; step++)
                {
                    var status = reader.TryRead(handle, offset, bytes.Length, out var frame);
                    if (status != OutboxFrameStatus.Ok) break;
                    Assert.Equal("m", OutboxFrame.Decode(frame).Metric);
                    offset += frame.Length;
                }
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static JsonNode? ParseOrNull(byte[] input)
    {
        try
        {
            return JsonNode.Parse(input);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void Expect<T>(Action action) where T : Exception
    {
        try { action(); }
        catch (T) { }
    }

    private static byte[] MutateBinary(Random random, byte[] input)
    {
        if (input.Length == 0) return [(byte)random.Next(256)];
        var list = new List<byte>(input);
        int at = random.Next(input.Length);
        switch (random.Next(5))
        {
            case 0: list[at] ^= (byte)(1 << random.Next(8)); break;
            case 1: list[at] = (byte)random.Next(256); break;
            case 2: return input[..at];
            case 3: list.InsertRange(at, Encoding.UTF8.GetBytes(new string('\xff', random.Next(1, 5)))); break;
            default: list[at] = 0xFF; if (at + 1 < list.Count) list[at + 1] = 0xFF; break;
        }
        return [.. list];
    }
}
