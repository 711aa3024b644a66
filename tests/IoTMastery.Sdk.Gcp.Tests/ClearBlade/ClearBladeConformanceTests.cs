using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// ClearBlade IoT Core mode against ClearBlade's official Node client (<c>@clearblade/iot</c> 1.0.6,
/// tests/conformance/clearblade-node/capture.js): both clients send every call shape (the admin registry-credentials
/// exchange, then the regional webhook calls) to a capture server on 127.0.0.1; ours must send the same method, path,
/// query, token header and JSON body. Where the official client is sloppy, ours is exact, and the second test says so.
/// </summary>
public sealed class ClearBladeConformanceTests
{
    private const string Project = "proj-1", Location = "us-central1", RegistryId = "reg-1", GatewayId = "gw-1";
    private const string AdminToken = "admin-token-secret", RegistryToken = "registry-token-secret", RegistryKey = "registry-system-key";

    private static Func<CapturedRequest, CannedResponse> Answer(Func<Uri> baseUrl) => r =>
    {
        if (r.Path.EndsWith("/getRegistryCredentials", StringComparison.Ordinal))
            return new(200, new JsonObject { ["systemKey"] = RegistryKey, ["serviceAccountToken"] = RegistryToken, ["url"] = baseUrl().AbsoluteUri.TrimEnd('/') }.ToJsonString());
        if (r.Method == "GET" && r.Path.EndsWith("/cloudiot_devices", StringComparison.Ordinal) && r.Query.Contains("parent=", StringComparison.Ordinal))
            return r.Query.Contains("pageToken=", StringComparison.Ordinal)
                ? new(200, "{\"devices\":[{\"id\":\"b\"}]}")
                : new(200, "{\"devices\":[{\"id\":\"a\"}],\"nextPageToken\":\"p2\"}");
        return new(200, "{}");
    };

    private static async Task<(List<CapturedRequest> Requests, List<JsonObject> Lines)> OfficialAsync(string deviceId, string site, string publicKeyPem)
    {
        LoopbackHttpServer? server = null;
        await using var capture = server = new LoopbackHttpServer(Answer(() => server!.BaseUrl));
        var (code, stdout, stderr) = await NodeOracle.ClearBladeClient.RunAsync("capture.js",
            [capture.Port.ToString(CultureInfo.InvariantCulture), Project, Location, RegistryId, deviceId, GatewayId, publicKeyPem, site], TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"@clearblade/iot failed (exit {code}).\n{stdout}\n{stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        return (capture.Requests.ToList(), lines);
    }

    private static async Task<(List<CapturedRequest> Requests, string? LastNextPageToken)> OursAsync(string deviceId, string site, string publicKeyPem)
    {
        LoopbackHttpServer? server = null;
        await using var ours = server = new LoopbackHttpServer(Answer(() => server!.BaseUrl));
        using var http = new HttpClient();
        var client = CloudIotClient.ForClearBlade(http, new CloudIotRegistryPath(Project, Location, RegistryId),
            new ClearBladeServiceAccount { Project = Project, SystemKey = "admin-system-key", Token = AdminToken, Url = ours.BaseUrl });
        await client.CreateDeviceAsync(new JsonObject
        {
            ["id"] = deviceId,
            ["credentials"] = new JsonArray(CloudIotClient.PublicKeyCredential(publicKeyPem, "ES256_PEM", new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero))),
            ["metadata"] = new JsonObject { ["site"] = site },
        });
        await client.GetDeviceAsync(deviceId);
        await client.GetDeviceAsync(deviceId, "config,blocked");
        var (_, next) = await client.ListDevicesAsync(pageSize: 2, fieldMask: "blocked,metadata");
        Assert.Equal("p2", next);
        var (_, last) = await client.ListDevicesAsync(pageSize: 2, pageToken: next, fieldMask: "blocked,metadata");
        await client.SetBlockedAsync(deviceId, true);
        await client.ModifyCloudToDeviceConfigAsync(deviceId, "{\"fan\":1}"u8.ToArray(), versionToUpdate: 1);
        await client.ListConfigVersionsAsync(deviceId, 2);
        await client.ListStatesAsync(deviceId, 2);
        await client.SendCommandToDeviceAsync(deviceId, "reboot"u8.ToArray(), "ops");
        await client.BindDeviceToGatewayAsync(GatewayId, deviceId);
        await client.UnbindDeviceFromGatewayAsync(GatewayId, deviceId);
        await client.DeleteDeviceAsync(deviceId);
        return (ours.Requests.ToList(), last);
    }

    [Fact]
    public async Task Every_call_matches_the_official_clearblade_client()
    {
        var (publicPem, _, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var (official, _) = await OfficialAsync("dev-1", "A", publicPem);
        var (mine, _) = await OursAsync("dev-1", "A", publicPem);

        // The official client really exchanged the admin token for the registry's own key and token first.
        Assert.Equal("POST", official[0].Method);
        Assert.Equal("/api/v/1/code/admin-system-key/getRegistryCredentials", official[0].Path);
        Assert.All(official.Skip(1), r => Assert.StartsWith($"/api/v/4/webhook/execute/{RegistryKey}/", r.Path, StringComparison.Ordinal));
        Assert.Equal(official.Count, mine.Count);
        for (var i = 0; i < official.Count; i++)
        {
            var because = $"request {i}: {official[i].Method} {official[i].PathAndQuery}";
            Assert.True(official[i].Method == mine[i].Method, because);
            Assert.True(official[i].Path == mine[i].Path, $"{because} vs {mine[i].Path}");
            Assert.True(Query(official[i].Query) == Query(mine[i].Query), $"{because} vs {mine[i].Query}");
            Assert.Equal(official[i].Headers["clearblade-usertoken"], mine[i].Headers["clearblade-usertoken"]);
            Assert.True(Body(official[i].Body) == Body(mine[i].Body), $"{because}: {official[i].Body} vs {mine[i].Body}");
            if (mine[i].Body.Length > 0) Assert.StartsWith("application/json", mine[i].Headers["content-type"], StringComparison.Ordinal);
        }
        Assert.Equal(AdminToken, official[0].Headers["clearblade-usertoken"]);
        Assert.Equal(RegistryToken, official[1].Headers["clearblade-usertoken"]);
    }

    [Fact]
    public async Task Where_the_official_client_is_sloppy_ours_is_exact()
    {
        // '%41' and '+' in an id, non-ASCII metadata: the three faults clearblade.md lists.
        const string deviceId = "dev%41+b", site = "Zürich";
        var (publicPem, _, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var (official, lines) = await OfficialAsync(deviceId, site, publicPem);
        var (mine, lastNext) = await OursAsync(deviceId, site, publicPem);
        var fullName = $"projects/{Project}/locations/{Location}/registries/{RegistryId}/devices/{deviceId}";

        // 1. Names in the query: theirs go out raw, so a server decodes "dev%41+b" as "devA b"; ours survive decoding.
        var officialGet = official.First(r => r.Method == "GET" && r.Path.EndsWith("/cloudiot_devices", StringComparison.Ordinal) && r.Query.Contains("name=", StringComparison.Ordinal));
        var ourGet = mine.First(r => r.Method == "GET" && r.Path.EndsWith("/cloudiot_devices", StringComparison.Ordinal) && r.Query.Contains("name=", StringComparison.Ordinal));
        Assert.NotEqual(fullName, Param(officialGet.Query, "name"));
        Assert.Equal(fullName, Param(ourGet.Query, "name"));
        foreach (var r in mine.Where(r => r.Query.Contains("name=", StringComparison.Ordinal)))
            Assert.EndsWith(deviceId, Param(r.Query, "name"), StringComparison.Ordinal);

        // 2. Content-Length: theirs counts characters, so the body is longer than declared; ours counts UTF-8 bytes.
        var ourCreate = mine.First(r => r.Method == "POST" && r.Path.EndsWith("/cloudiot_devices", StringComparison.Ordinal) && r.Query.Length == 0);
        var officialCreate = official.First(r => r.Method == "POST" && r.Path.EndsWith("/cloudiot_devices", StringComparison.Ordinal) && r.Query.Length == 0);
        Assert.Equal(Encoding.UTF8.GetByteCount(ourCreate.Body), int.Parse(ourCreate.Headers["content-length"], CultureInfo.InvariantCulture));
        Assert.Equal(site, JsonNode.Parse(ourCreate.Body)!["metadata"]!["site"]!.GetValue<string>());
        Assert.True(int.Parse(officialCreate.Headers["content-length"], CultureInfo.InvariantCulture) < Encoding.UTF8.GetByteCount(ourCreate.Body),
            "the official client declared the body in characters");

        // 3. Paging: theirs offers a next request even after the last page and drops pageSize and the field mask from it;
        // ours carries them on and ends with no token.
        var officialNext = lines.Single(l => l["step"]!.GetValue<string>() == "list1")["value"]!.AsObject();
        Assert.Null(officialNext["pageSize"]);
        Assert.Null(officialNext["fieldMask"]);
        Assert.NotNull(lines.Single(l => l["step"]!.GetValue<string>() == "list2")["value"]);
        var ourSecondList = mine.Where(r => r.Method == "GET" && r.Query.Contains("parent=", StringComparison.Ordinal)).ElementAt(1);
        Assert.Equal("2", Param(ourSecondList.Query, "pageSize"));
        Assert.Equal("blocked,metadata", Param(ourSecondList.Query, "fieldMask"));
        Assert.Equal("p2", Param(ourSecondList.Query, "pageToken"));
        Assert.Null(lastNext);
    }

    // As a server reads a query value: '+' is a space, then percent-decoding.
    private static string? Param(string query, string name) => query.Split('&')
        .Select(p => p.Split('=', 2)).Where(p => p[0] == name).Select(p => Uri.UnescapeDataString(p[1].Replace('+', ' '))).FirstOrDefault();

    private static string Query(string query) => string.Join('&', query.Split('&', StringSplitOptions.RemoveEmptyEntries)
        .Select(p => Uri.UnescapeDataString(p.Replace('+', ' '))).Order(StringComparer.Ordinal));

    private static string Body(string body) => string.IsNullOrEmpty(body) ? "" : Sorted(JsonNode.Parse(body))!.ToJsonString();

    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
        _ => node?.DeepClone(),
    };
}
