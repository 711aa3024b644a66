using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Tests.State;

/// <summary>One depth limit for writing and reading (issue #12 item 6): what passes the check always reads back.</summary>
public sealed class JsonLimitsTests
{
    private static JsonObject Nested(int depth)
    {
        var root = new JsonObject { ["leaf"] = 1 };
        for (var i = 1; i < depth; i++) root = new JsonObject { ["n"] = root };
        return root;
    }

    private static JsonNode NestedArrays(int depth)
    {
        JsonNode root = new JsonArray(1);
        for (var i = 1; i < depth; i++) root = new JsonArray(root);
        return root;
    }

    [Fact]
    public void A_document_at_the_limit_passes_and_reads_back_also_inside_its_envelope()
    {
        foreach (var document in new[] { Nested(JsonLimits.MaxDocumentDepth), NestedArrays(JsonLimits.MaxDocumentDepth) })
        {
            var utf8 = JsonLimits.Serialize(document, 1 << 20, "A document", "document");
            Assert.True(StrictJson.TryParse(utf8, out var read));
            Assert.True(JsonNode.DeepEquals(document, read));
            // The envelopes around a document ({"version":n,"desired":…}, a shadow's state.desired) stay readable.
            var envelope = new JsonObject { ["state"] = new JsonObject { ["desired"] = document.DeepClone() } };
            Assert.True(StrictJson.TryParse(Encoding.UTF8.GetBytes(envelope.ToJsonString()), out _));
        }
    }

    [Theory]
    [InlineData(JsonLimits.MaxDocumentDepth + 1)]
    [InlineData(JsonLimits.MaxReadDepth + 1)]
    [InlineData(999)]
    [InlineData(5_000)]   // past the writer's own limit: still our ArgumentException, not its InvalidOperationException
    public void A_deeper_document_is_an_argument_exception_naming_the_limit(int depth)
    {
        foreach (var document in new[] { Nested(depth), NestedArrays(depth) })
        {
            var ex = Assert.Throws<ArgumentException>(() => JsonLimits.Serialize(document, 1 << 20, "A document", "document"));
            Assert.Equal("document", ex.ParamName);
            Assert.Contains($"at most {JsonLimits.MaxDocumentDepth} levels", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_reader_refuses_what_is_deeper_than_its_limit()
    {
        Assert.True(StrictJson.TryParse(Encoding.UTF8.GetBytes(new string('[', JsonLimits.MaxReadDepth) + new string(']', JsonLimits.MaxReadDepth)), out _));
        Assert.False(StrictJson.TryParse(Encoding.UTF8.GetBytes(new string('[', JsonLimits.MaxReadDepth + 1) + new string(']', JsonLimits.MaxReadDepth + 1)), out _));
    }

    [Fact]
    public void Size_nan_and_unpaired_surrogates_are_argument_exceptions()
    {
        var big = Assert.Throws<ArgumentException>(() => JsonLimits.Serialize(new JsonObject { ["x"] = new string('x', 100) }, 50, "A payload", "payload"));
        Assert.Contains("at most 50 bytes", big.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => JsonLimits.Serialize(new JsonObject { ["x"] = double.NaN }, 1 << 20, "A payload", "payload"));
        Assert.Throws<ArgumentException>(() => JsonLimits.Serialize(new JsonObject { ["x"] = "a\uD800b" }, 1 << 20, "A payload", "payload"));
        Assert.Throws<ArgumentException>(() => JsonLimits.Serialize(new JsonObject { ["\uDC00"] = 1 }, 1 << 20, "A payload", "payload"));
        // A paired surrogate (an emoji) is fine and round-trips unchanged.
        Assert.Equal("\uD83D\uDE00", (string?)JsonNode.Parse(JsonLimits.Serialize(new JsonObject { ["ok"] = "\uD83D\uDE00" }, 1 << 20, "A payload", "payload"))!["ok"]);
        Assert.Equal("null"u8.ToArray(), JsonLimits.Serialize(null, 10, "A payload", "payload"));
    }
}
