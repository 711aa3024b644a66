using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport.Fuzz;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Tests.Fuzz;

/// <summary>
/// Seeded fuzzing of what every provider's device side parses: the strict JSON gate and the shared command dispatch.
/// Accepted JSON must be safe to read in full; refused JSON must be refused up front, never as a later handler failure.
/// </summary>
public sealed class DevicePayloadFuzzTests
{
    private const int Mutations = 3000;

    private static readonly string[] Seeds =
    [
        "{\"version\":3,\"desired\":{\"interval\":5,\"firmware\":{\"version\":\"1.0\",\"uri\":\"https://x/y\"}},\"n\":[1,\"a\",null]}",
        "{\"delay\":5,\"mode\":\"safe\",\"tags\":{\"a\":\"b\"}}",
        "[1,2,{\"x\":\"y\"}]",
    ];

    [Fact]
    public void StrictJson_never_throws_and_what_it_accepts_reads_in_full()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(61, Mutations, Seeds), input =>
        {
            if (!StrictJson.TryParse(input, out var node)) return;
            // Everything a consumer can do with an accepted document must work: serialize, re-parse strictly, compare.
            var text = node?.ToJsonString() ?? "null";
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowDuplicateProperties = false });
            Assert.True(JsonNode.DeepEquals(node, JsonNode.Parse(text)));
            if (node is JsonObject o) JsonMergePatch.Apply(new JsonObject(), o);
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("{\"a\":1,\"a\":2}")]
    [InlineData("{\"a\":\"\\uD800\"}")]
    [InlineData("{\"\\uDC00\":1}")]
    [InlineData("NaN")]
    public void StrictJson_refuses_what_JsonNode_Parse_accepts_lazily(string json)
    {
        Assert.False(StrictJson.TryParse(Encoding.UTF8.GetBytes(json), out _));
        Assert.Null(StrictJson.TryParseObject([(byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'"', 0xFF, (byte)'"', (byte)'}']));
    }

    [Fact]
    public void Command_dispatch_answers_400_for_malformed_payloads_and_never_500()
    {
        var slots = new DeviceHandlerSlots();
        // A handler that reads the whole payload, as an application would.
        slots.SetCommandHandler((command, _) =>
        {
            var text = command.Payload?.ToJsonString() ?? "null";
            return ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["length"] = text.Length }));
        });
        var statuses = new Dictionary<int, int>();
        var failures = FuzzInputs.Run(FuzzInputs.For(62, Mutations, Seeds), input =>
        {
            var response = slots.RunCommandAsync("probe", input, "the payload is not JSON", NullLogger.Instance, CancellationToken.None).GetAwaiter().GetResult();
            Assert.NotNull(response);
            Assert.True(response.Status is 200 or 400, $"status {response.Status}");
            lock (statuses) statuses[response.Status] = statuses.GetValueOrDefault(response.Status) + 1;
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(statuses.GetValueOrDefault(200) > 3 && statuses.GetValueOrDefault(400) > 60, string.Join(", ", statuses));
    }
}
