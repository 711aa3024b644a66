using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Gcp.Tests.Reliability;

/// <summary>
/// The Cloud IoT bridge double held to the client Google published for Cloud IoT Core devices (its Node.js MQTT sample:
/// mqtt + jsonwebtoken, pinned in tests/conformance/gcp-bridge-node): a JWT made by that code is accepted (ES256 and
/// RS256) and its QoS 1 events arrive; an expired one is refused at CONNECT; a live session is closed at <c>exp</c>.
/// </summary>
public sealed class BridgeDoubleNodeClientTests(ITestOutputHelper output) : IDisposable
{
    private static readonly CloudIotRegistryName Registry = new("proj-1", "us-central1", "reg-1");
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-bridge-node-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcdsaP256, "ES256")]
    [InlineData(KeyAlgorithm.Rsa2048, "RS256")]
    public async Task Googles_device_sample_connects_with_its_jwt_and_its_events_arrive(KeyAlgorithm algorithm, string alg)
    {
        var (publicPem, privatePem, format) = DeviceKeys.Generate(algorithm);
        await using var bridge = await CloudIotBridgeDouble.StartAsync(Registry, id => id == "dev-node" ? [(format, publicPem)] : []);
        var result = await RunAsync(bridge, "valid", privatePem, alg);
        Assert.True(result["connected"]!.GetValue<bool>(), result.ToJsonString());
        Assert.Equal(3, bridge.Events.Count(e => e.DeviceId == "dev-node" && e.Topic == "/devices/dev-node/events"));
        Assert.True(Assert.Single(bridge.CredentialSessions.Connects).Accepted);
    }

    [Fact]
    public async Task An_expired_jwt_from_googles_device_sample_is_refused_at_connect()
    {
        var (publicPem, privatePem, format) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        await using var bridge = await CloudIotBridgeDouble.StartAsync(Registry, id => id == "dev-node" ? [(format, publicPem)] : []);
        var result = await RunAsync(bridge, "expired", privatePem, "ES256");
        Assert.False(result["connected"]!.GetValue<bool>(), result.ToJsonString());
        Assert.Equal("JWT expired", Assert.Single(bridge.CredentialSessions.Connects).Refusal);
    }

    [Fact]
    public async Task The_bridge_closes_the_session_of_googles_device_sample_when_its_jwt_expires()
    {
        var (publicPem, privatePem, format) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        await using var bridge = await CloudIotBridgeDouble.StartAsync(Registry, id => id == "dev-node" ? [(format, publicPem)] : []);
        var result = await RunAsync(bridge, "cut", privatePem, "ES256", "5");
        output.WriteLine(result.ToJsonString());
        Assert.True(result["connected"]!.GetValue<bool>(), result.ToJsonString());
        var cut = Assert.Single(bridge.CredentialSessions.Cuts);
        Assert.InRange(cut.At - cut.ExpiredAt, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        // exp = the whole second of signing + 5 s; the CONNECT took at most a few seconds, so the session lived 1-5 s.
        Assert.InRange(result["closedAfterMs"]!.GetValue<int>(), 1_000, 6_000);
    }

    private async Task<JsonObject> RunAsync(CloudIotBridgeDouble bridge, string mode, string privatePem, string alg, string seconds = "0")
    {
        var ca = Path.Combine(_dir, "ca.pem");
        var key = Path.Combine(_dir, "key.pem");
        await File.WriteAllTextAsync(ca, bridge.TrustedRoots[0].ExportCertificatePem());
        await File.WriteAllTextAsync(key, privatePem);
        var (code, stdout, stderr) = await NodeOracle.BridgeSample.RunAsync("bridge-device.js",
            [mode, bridge.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), ca, Registry.Device("dev-node"), "dev-node", Registry.ProjectId, key, alg, seconds],
            TimeSpan.FromSeconds(60));
        output.WriteLine($"node {mode} {alg}: exit {code}, {stdout.Trim()} {stderr.Trim()}");
        Assert.True(code == 0, $"node exited {code}: {stdout} {stderr}");
        return JsonNode.Parse(stdout.Trim().Split('\n')[^1])!.AsObject();
    }
}
