using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Tests.State;

public class JsonMergePatchTests
{
    // RFC 7396 appendix A, every example.
    public static TheoryData<string, string, string> Rfc7396Examples => new()
    {
        { """{"a":"b"}""", """{"a":"c"}""", """{"a":"c"}""" },
        { """{"a":"b"}""", """{"b":"c"}""", """{"a":"b","b":"c"}""" },
        { """{"a":"b"}""", """{"a":null}""", """{}""" },
        { """{"a":"b","b":"c"}""", """{"a":null}""", """{"b":"c"}""" },
        { """{"a":["b"]}""", """{"a":"c"}""", """{"a":"c"}""" },
        { """{"a":"c"}""", """{"a":["b"]}""", """{"a":["b"]}""" },
        { """{"a":{"b":"c"}}""", """{"a":{"b":"d","c":null}}""", """{"a":{"b":"d"}}""" },
        { """{"a":[{"b":"c"}]}""", """{"a":[1]}""", """{"a":[1]}""" },
        { """["a","b"]""", """["c","d"]""", """["c","d"]""" },
        { """{"a":"b"}""", """["c"]""", """["c"]""" },
        { """{"a":"foo"}""", "null", "null" },
        { """{"a":"foo"}""", "\"bar\"", "\"bar\"" },
        { """{"e":null}""", """{"a":1}""", """{"e":null,"a":1}""" },
        { """[1,2]""", """{"a":"b","c":null}""", """{"a":"b"}""" },
        { "{}", """{"a":{"bb":{"ccc":null}}}""", """{"a":{"bb":{}}}""" },
    };

    [Theory]
    [MemberData(nameof(Rfc7396Examples))]
    public void Rfc7396_examples(string target, string patch, string expected)
    {
        var result = JsonMergePatch.Apply(JsonNode.Parse(target), JsonNode.Parse(patch));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), result), $"got {result?.ToJsonString() ?? "null"}");
    }

    [Fact]
    public void Inputs_are_not_modified()
    {
        var target = (JsonObject)JsonNode.Parse("""{"a":{"b":1},"c":2}""")!;
        var patch = (JsonObject)JsonNode.Parse("""{"a":{"b":null,"d":[1]},"c":null}""")!;
        var result = JsonMergePatch.Apply(target, patch);
        Assert.Equal("""{"a":{"b":1},"c":2}""", target.ToJsonString());
        Assert.Equal("""{"a":{"b":null,"d":[1]},"c":null}""", patch.ToJsonString());
        Assert.Equal("""{"a":{"d":[1]}}""", result.ToJsonString());
        // The result shares no nodes with the patch, so it can be attached elsewhere.
        result["a"]!["d"]!.AsArray().Add(2);
        Assert.Equal("[1]", patch["a"]!["d"]!.ToJsonString());
    }
}
