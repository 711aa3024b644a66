using IoTMastery.Sdk.TestSupport;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// The official @google-cloud/iot 5.2.1 client (REST mode) drives the registry double through the registry
/// scenario first; then our CloudIotClient runs the same scenario and must send the same requests
/// (method, path, query and body, with the GAPIC client's integer enums rewritten as names).
/// </summary>
public sealed class CloudIotConformanceTests
{
    private static readonly CloudIotRegistryPath Registry = new("proj-1", "us-central1", "reg-1");

    internal static async Task<(List<CapturedRequest> Requests, string Output)> RunOfficialClientAsync(string publicKeyPem)
    {
        await using var registry = new CloudIotRegistryDouble();
        var (code, stdout, stderr) = await NodeOracle.GoogleClients.RunAsync("iot-scenario.js",
            [registry.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), Registry.ProjectId, Registry.Location, Registry.RegistryId, publicKeyPem], TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"The official client failed against the double (exit {code}).\nstdout:\n{stdout}\nstderr:\n{stderr}");
        return (registry.Server.Requests.ToList(), stdout);
    }

    [Fact]
    public async Task The_official_client_completes_the_registry_scenario_against_the_double()
    {
        var (publicPem, _, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var (requests, output) = await RunOfficialClientAsync(publicPem);
        var steps = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToDictionary(n => n["step"]!.GetValue<string>(), n => n["value"]!);
        Assert.Equal("node-dev-1", steps["create"]["id"]!.GetValue<string>());
        Assert.Equal(["node-dev-1", "node-dev-2"], steps["list1"]["ids"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(["node-gw-1"], steps["list2"]["ids"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.True(steps["patch"]["blocked"]!.GetValue<bool>());
        Assert.Equal("2", steps["config"]["version"]!.GetValue<string>());
        Assert.Equal(["2", "1"], steps["configVersions"]["versions"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(["node-dev-2"], steps["bound"]["ids"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(404, steps["getDeleted"]["code"]!.GetValue<int>()); // REST mode reports the HTTP status
        Assert.All(requests, r => Assert.Equal("Bearer test-token", r.Headers["authorization"]));
    }

    [Fact]
    public async Task Our_client_sends_the_same_requests_as_the_official_client()
    {
        var (publicPem, _, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var (official, _) = await RunOfficialClientAsync(publicPem);

        await using var registry = new CloudIotRegistryDouble();
        using var http = new HttpClient();
        var auth = new VendorTokenAuthenticator("Authorization", _ => ValueTask.FromResult("test-token"));
        var client = new CloudIotClient(http, Registry, registry.Server.BaseUrl, auth);
        await client.CreateDeviceAsync(new JsonObject
        {
            ["id"] = "node-dev-1",
            ["credentials"] = new JsonArray(CloudIotClient.PublicKeyCredential(publicPem, "ES256_PEM", DateTimeOffset.FromUnixTimeSeconds(1900000000))),
            ["metadata"] = new JsonObject { ["site"] = "A" },
            ["gatewayConfig"] = new JsonObject { ["gatewayType"] = "NON_GATEWAY" },
        });
        await client.CreateDeviceAsync(new JsonObject { ["id"] = "node-dev-2" });
        await client.CreateDeviceAsync(new JsonObject { ["id"] = "node-gw-1", ["gatewayConfig"] = new JsonObject { ["gatewayType"] = "GATEWAY", ["gatewayAuthMethod"] = "ASSOCIATION_ONLY" } });
        await client.GetDeviceAsync("node-dev-1", "config,last_heartbeat_time");
        var (_, next) = await client.ListDevicesAsync(pageSize: 2);
        await client.ListDevicesAsync(pageSize: 2, pageToken: next);
        await client.SetBlockedAsync("node-dev-1", true);
        await client.ModifyCloudToDeviceConfigAsync("node-dev-1", "{\"fan\":1}"u8.ToArray(), versionToUpdate: 1);
        await client.ListConfigVersionsAsync("node-dev-1", 5);
        await client.ListStatesAsync("node-dev-1", 2);
        await client.SendCommandToDeviceAsync("node-dev-1", "reboot"u8.ToArray(), "ops/now");
        await client.BindDeviceToGatewayAsync("node-gw-1", "node-dev-2");
        await client.ListDevicesAsync(associationsGatewayId: "node-gw-1");
        await client.UnbindDeviceFromGatewayAsync("node-gw-1", "node-dev-2");
        foreach (var id in new[] { "node-dev-1", "node-dev-2", "node-gw-1" }) await client.DeleteDeviceAsync(id);
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => client.GetDeviceAsync("node-dev-1"));

        var ours = registry.Server.Requests.ToList();
        Assert.Equal(official.Count, ours.Count);
        for (var i = 0; i < official.Count; i++)
        {
            Assert.Equal(official[i].Method, ours[i].Method);
            Assert.Equal(Uri.UnescapeDataString(official[i].Path), Uri.UnescapeDataString(ours[i].Path));
            Assert.Equal(NormalizeQuery(official[i].Query), NormalizeQuery(ours[i].Query));
            Assert.Equal(NormalizeBody(official[i].Body), NormalizeBody(ours[i].Body));
            Assert.Equal("Bearer test-token", ours[i].Headers["authorization"]);
        }
    }

    private static string NormalizeQuery(string query) => string.Join('&', query.Split('&', StringSplitOptions.RemoveEmptyEntries)
        .Select(Uri.UnescapeDataString).Where(p => !p.StartsWith("$alt=", StringComparison.Ordinal)).Order(StringComparer.Ordinal));

    private static string NormalizeBody(string body)
    {
        if (string.IsNullOrEmpty(body)) return "";
        var node = JsonNode.Parse(body)!.AsObject();
        var normalized = CloudIotRegistryDouble.Normalize(node);
        // The GAPIC client always sends an empty metadata map on patch; an empty map and no map mean the same.
        if (normalized["metadata"] is JsonObject { Count: 0 }) normalized.Remove("metadata");
        // Timestamps: the GAPIC client writes milliseconds (.000Z); both are RFC 3339 for the same instant.
        if (normalized["credentials"] is JsonArray creds)
            foreach (var c in creds)
                if (c?["expirationTime"] is { } t) c["expirationTime"] = DateTimeOffset.Parse(t.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeSeconds();
        return Sorted(normalized)!.ToJsonString();
    }

    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
        _ => node?.DeepClone(),
    };
}
