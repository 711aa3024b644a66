using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// The official @google-cloud/pubsub 6.2.0 client (REST fallback) and our PubSubClient send the same calls to a
/// loopback capture server; method, path and body must match (the GAPIC client's <c>$alt</c> query and
/// headers such as x-goog-api-client are its own and ignored).
/// </summary>
public sealed class PubSubConformanceTests
{
    private static CannedResponse Answer(CapturedRequest r) => r.Path switch
    {
        var p when p.EndsWith(":publish", StringComparison.Ordinal) => new(200, new JsonObject { ["messageIds"] = new JsonArray(JsonNode.Parse(r.Body)!["messages"]!.AsArray().Select((_, i) => (JsonNode)(i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray()) }.ToJsonString()),
        _ => new(200, "{}"),
    };

    [Fact]
    public async Task Publish_pull_acknowledge_and_modify_ack_deadline_match_the_official_client()
    {
        await using var capture = new LoopbackHttpServer(Answer);
        var (code, stdout, stderr) = await NodeOracle.GoogleClients.RunAsync("pubsub-capture.js", [capture.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "proj1"], TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"The official client failed (exit {code}).\n{stdout}\n{stderr}");
        var official = capture.Requests.ToList();

        await using var ours = new LoopbackHttpServer(Answer);
        using var http = new HttpClient();
        var client = new PubSubClient(http, "proj1", ours.BaseUrl, new VendorTokenAuthenticator("Authorization", _ => ValueTask.FromResult("test-token")));
        await client.PublishAsync("telemetry", [
            new PubSubMessage { Data = Encoding.UTF8.GetBytes("hello"), Attributes = new Dictionary<string, string> { ["deviceId"] = "d1", ["subFolder"] = "x" } },
            new PubSubMessage { Data = Encoding.UTF8.GetBytes("world"), Attributes = new Dictionary<string, string> { ["deviceId"] = "d2" } }]);
        await client.PublishAsync("telemetry", [new PubSubMessage { Data = Encoding.UTF8.GetBytes("first"), OrderingKey = "dev-1" }]);
        await client.PullAsync("telemetry-sub", 10);
        await client.AcknowledgeAsync("telemetry-sub", ["a1", "a2"]);
        await client.ModifyAckDeadlineAsync("telemetry-sub", ["a3"], 0);
        var mine = ours.Requests.ToList();

        Assert.Equal(official.Count, mine.Count);
        for (var i = 0; i < official.Count; i++)
        {
            Assert.Equal(official[i].Method, mine[i].Method);
            Assert.Equal(Uri.UnescapeDataString(official[i].Path), Uri.UnescapeDataString(mine[i].Path));
            Assert.Equal(Sorted(JsonNode.Parse(official[i].Body))!.ToJsonString(), Sorted(JsonNode.Parse(mine[i].Body))!.ToJsonString());
            Assert.Equal("Bearer test-token", official[i].Headers["authorization"]);
            Assert.Equal("Bearer test-token", mine[i].Headers["authorization"]);
        }
    }

    // Proto3 JSON: an empty map ("attributes":{}, which the official client always sends) equals an absent one.
    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Where(p => p.Value is not JsonObject { Count: 0 }).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
        _ => node?.DeepClone(),
    };
}
