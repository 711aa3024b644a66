using IoTMastery.Sdk.TestSupport;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// Ids may contain '%', '+', '~' and '.', so every id in a URL path must be escaped: unescaped, <c>dev%41</c>
/// reaches the server as <c>devA</c>. The official GAPIC clients (@google-cloud/iot, @google-cloud/pubsub in REST
/// mode, tests/conformance/gcp-node/escaping-capture.js) send one request per URL shape to a capture server; ours
/// must send byte-for-byte the same request line (the raw path, not an unescaped comparison) and the same body.
/// </summary>
public sealed class PathEscapingConformanceTests
{
    private const string Project = "proj-1", Location = "us-central1", RegistryId = "reg%41+~.x", DeviceId = "dev%41+~.y",
        GatewayId = "gw%2F+~.z", TopicId = "top%41+~.t", SubscriptionId = "sub%41+~.s";

    private static CannedResponse Answer(CapturedRequest r) =>
        r.Path.EndsWith(":publish", StringComparison.Ordinal) ? new(200, "{\"messageIds\":[\"1\"]}") : new(200, "{}");

    [Fact]
    public async Task Every_path_segment_is_escaped_as_the_official_clients_escape_it()
    {
        await using var capture = new LoopbackHttpServer(Answer);
        var (code, stdout, stderr) = await NodeOracle.GoogleClients.RunAsync("escaping-capture.js",
            [capture.Port.ToString(CultureInfo.InvariantCulture), Project, Location, RegistryId, DeviceId, GatewayId, TopicId, SubscriptionId], TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"The official clients failed (exit {code}).\n{stdout}\n{stderr}");
        var official = capture.Requests.ToList();
        // The reference really escapes: '%' and '+' are encoded, '~' and '.' are left as they are.
        Assert.Contains(official, r => r.Path.EndsWith("/devices/dev%2541%2B~.y", StringComparison.Ordinal));

        await using var ours = new LoopbackHttpServer(Answer);
        using var http = new HttpClient();
        var auth = new VendorTokenAuthenticator("Authorization", _ => ValueTask.FromResult("test-token"));
        var registry = new CloudIotClient(http, new CloudIotRegistryPath(Project, Location, RegistryId), ours.BaseUrl, auth);
        await registry.CreateDeviceAsync(new JsonObject { ["id"] = DeviceId });
        await registry.GetDeviceAsync(DeviceId);
        await registry.ListDevicesAsync(pageSize: 2);
        await registry.SetBlockedAsync(DeviceId, true);
        await registry.ModifyCloudToDeviceConfigAsync(DeviceId, "{}"u8.ToArray(), versionToUpdate: 1);
        await registry.ListConfigVersionsAsync(DeviceId, 2);
        await registry.ListStatesAsync(DeviceId, 2);
        await registry.SendCommandToDeviceAsync(DeviceId, "x"u8.ToArray());
        await registry.BindDeviceToGatewayAsync(GatewayId, DeviceId);
        await registry.DeleteDeviceAsync(DeviceId);
        var pubsub = new PubSubClient(http, Project, ours.BaseUrl, auth);
        await pubsub.CreateTopicAsync(TopicId);
        await pubsub.TopicExistsAsync(TopicId);
        await pubsub.PublishAsync(TopicId, [new PubSubMessage { Data = Encoding.UTF8.GetBytes("x") }]);
        await pubsub.CreateSubscriptionAsync(SubscriptionId, TopicId, new PubSubSubscriptionSettings { AckDeadlineSeconds = 10 });
        await pubsub.PullAsync(SubscriptionId, 1);
        await pubsub.AcknowledgeAsync(SubscriptionId, ["a1"]);
        await pubsub.ModifyAckDeadlineAsync(SubscriptionId, ["a1"], 0);
        await pubsub.DeleteSubscriptionAsync(SubscriptionId);
        await pubsub.DeleteTopicAsync(TopicId);
        var mine = ours.Requests.ToList();

        Assert.Equal(official.Count, mine.Count);
        for (var i = 0; i < official.Count; i++)
        {
            Assert.Equal(official[i].Method, mine[i].Method);
            Assert.Equal(official[i].Path, mine[i].Path);
            Assert.Equal(Query(official[i].Query), Query(mine[i].Query));
            Assert.Equal(Body(official[i].Body), Body(mine[i].Body));
        }
    }

    [Fact]
    public async Task The_registry_double_keeps_escaped_ids_apart_from_their_unescaped_look_alikes()
    {
        await using var double_ = new CloudIotRegistryDouble();
        using var http = new HttpClient();
        var client = new CloudIotClient(http, new CloudIotRegistryPath(Project, Location, RegistryId), double_.Server.BaseUrl, NoAuthenticator.Instance);
        await client.CreateDeviceAsync(new JsonObject { ["id"] = "devA+b", ["metadata"] = new JsonObject { ["which"] = "plain" } });
        await client.CreateDeviceAsync(new JsonObject { ["id"] = "dev%41%2Bb", ["metadata"] = new JsonObject { ["which"] = "escaped-look-alike" } });

        Assert.Equal("escaped-look-alike", (await client.GetDeviceAsync("dev%41%2Bb"))["metadata"]!["which"]!.GetValue<string>());
        await client.SetBlockedAsync("dev%41%2Bb", true);
        await client.DeleteDeviceAsync("dev%41%2Bb");
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => client.GetDeviceAsync("dev%41%2Bb"));
        var plain = await client.GetDeviceAsync("devA+b");
        Assert.Equal("plain", plain["metadata"]!["which"]!.GetValue<string>());
        Assert.False(plain["blocked"]!.GetValue<bool>());
    }

    // Only the GAPIC client's own $alt parameter differs; the rest is compared after decoding, in order-free form.
    private static string Query(string query) => string.Join('&', query.Split('&', StringSplitOptions.RemoveEmptyEntries)
        .Select(Uri.UnescapeDataString).Where(p => !p.StartsWith("$alt=", StringComparison.Ordinal)).Order(StringComparer.Ordinal));

    // Proto3 JSON: empty maps (labels, tags, metadata, attributes — the GAPIC client always sends them) equal absent ones.
    private static string Body(string body) => string.IsNullOrEmpty(body) ? "" : Sorted(JsonNode.Parse(body))!.ToJsonString();

    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Where(p => p.Value is not JsonObject { Count: 0 }).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
        _ => node?.DeepClone(),
    };
}
