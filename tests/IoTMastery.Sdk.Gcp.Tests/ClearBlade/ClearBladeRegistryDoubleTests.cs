using IoTMastery.Sdk.TestSupport;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// The registry double's ClearBlade scheme, driven first by ClearBlade's official client
/// (tests/conformance/clearblade-node/registry-scenario.js), so its answers are shaped by what @clearblade/iot reads.
/// Then our provider, in ClearBlade mode, runs the registry, config and state scenario through it.
/// </summary>
public sealed class ClearBladeRegistryDoubleTests
{
    private const string Project = "proj-cb", Location = "us-central1", RegistryId = "reg-cb", AdminKey = "admin-key-1", AdminToken = "admin-token-secret-1";

    private static readonly CredentialRequest PublicKey = new() { Kind = CredentialKind.PublicKey };

    private static CloudIotRegistryDouble NewDouble() => new() { ClearBlade = new ClearBladeDoubleAccount(AdminKey, AdminToken, Project, Location, RegistryId) };

    [Fact]
    public async Task The_official_clearblade_client_runs_its_scenario_against_the_double()
    {
        await using var registry = NewDouble();
        registry.ReportState("cb-dev-1", "{}"u8.ToArray()); // ignored: the device does not exist yet
        var (publicPem, _, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var run = NodeOracle.ClearBladeClient.RunAsync("registry-scenario.js",
            [registry.Server.Port.ToString(CultureInfo.InvariantCulture), Project, Location, RegistryId, AdminKey, AdminToken, publicPem], TimeSpan.FromSeconds(90));
        var (code, stdout, stderr) = await run;
        Assert.True(code == 0, $"@clearblade/iot failed against the double (exit {code}).\n{stdout}\n{stderr}");
        var steps = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject())
            .ToDictionary(l => l["step"]!.GetValue<string>(), l => l["value"]!);
        Assert.Equal("cb-dev-1", steps["create"]["id"]!.GetValue<string>());
        Assert.Equal("A", steps["get"]["site"]!.GetValue<string>());
        Assert.Equal(1, steps["get"]["keys"]!.GetValue<int>());
        Assert.Equal(["cb-dev-1", "cb-dev-2"], steps["list1"]["ids"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(["cb-dev-3"], steps["list2"]["ids"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.True(steps["patch"]["blocked"]!.GetValue<bool>());
        Assert.Equal("2", steps["config"]["version"]!.GetValue<string>());
        Assert.Equal(["2", "1"], steps["configVersions"]["versions"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(0, steps["states"]["count"]!.GetValue<int>());
        Assert.False(steps["getDeleted"]["found"]!.GetValue<bool>());
        Assert.Equal("NOT_FOUND", steps["getDeleted"]["status"]!.GetValue<string>());
        Assert.True(registry.IsBlocked("cb-dev-1"));
    }

    [Fact]
    public async Task The_double_refuses_a_wrong_admin_token_and_a_wrong_registry_token()
    {
        await using var registry = NewDouble();
        using var http = new HttpClient();
        var wrong = CloudIotClient.ForClearBlade(http, new CloudIotRegistryPath(Project, Location, RegistryId),
            new ClearBladeServiceAccount { Project = Project, SystemKey = AdminKey, Token = "not-the-token", Url = registry.Server.BaseUrl });
        var error = await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => wrong.GetDeviceAsync("cb-dev-9"));
        Assert.DoesNotContain("not-the-token", error.ToString(), StringComparison.Ordinal);

        using var raw = new HttpRequestMessage(HttpMethod.Get, new Uri(registry.Server.BaseUrl, $"api/v/4/webhook/execute/{registry.ClearBlade!.RegistrySystemKey}/cloudiot_devices?name=x"));
        raw.Headers.Add("ClearBlade-UserToken", AdminToken); // the admin token is not the registry's token
        using var response = await http.SendAsync(raw);
        Assert.Equal(401, (int)response.StatusCode);
    }

    [Fact]
    public async Task Our_provider_in_clearblade_mode_runs_the_registry_config_and_state_scenario_through_the_double()
    {
        await using var registry = NewDouble();
        var folder = Directory.CreateTempSubdirectory("iotm-clearblade-");
        try
        {
            // The service-account file as ClearBlade's console hands it out.
            var accountPath = Path.Combine(folder.FullName, "clearblade.json");
            await File.WriteAllTextAsync(accountPath, new JsonObject
            {
                ["project"] = Project, ["systemKey"] = AdminKey, ["token"] = AdminToken, ["url"] = registry.Server.BaseUrl.AbsoluteUri,
            }.ToJsonString());
            var options = new GcpIoTOptions
            {
                ProjectId = Project, Location = Location, RegistryId = RegistryId,
                ClearBladeServiceAccountJsonPath = accountPath,
                Transport = { DeviceHost = "us-central1-mqtt.clearblade.com" },
            };
            Assert.DoesNotContain(AdminToken, options.ToString(), StringComparison.Ordinal);
            await using var provider = await GcpIoTProvider.StartAsync(options);

            var issued = await provider.Registry.RegisterAsync(new DeviceRegistration
            {
                Id = "pump-1", Credential = PublicKey, Attributes = new Dictionary<string, string> { ["site"] = "north" },
            });
            Assert.NotNull(issued.Credential);
            await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-2", Credential = PublicKey });
            var device = await provider.Registry.GetAsync("pump-1");
            Assert.Equal("north", device.Attributes["site"]);
            Assert.Single(registry.PublicKeys("pump-1"));

            var listed = new List<string>();
            await foreach (var d in provider.Registry.ListAsync(new DeviceQuery { PageSize = 1 })) listed.Add(d.Id);
            Assert.Equal(["pump-1", "pump-2"], listed);

            var desired = await provider.State.UpdateDesiredAsync("pump-1", new JsonObject { ["fan"] = 3 });
            var state = await provider.State.GetAsync("pump-1");
            Assert.Equal(3, state.Desired["fan"]!.GetValue<int>());
            Assert.Equal(desired.DesiredVersion, state.DesiredVersion);
            await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () => provider.State.UpdateDesiredAsync("pump-1", new JsonObject { ["fan"] = 4 }, expectedVersion: desired.DesiredVersion - 1));

            registry.ReportState("pump-1", Encoding.UTF8.GetBytes("{\"rpm\":1200}"));
            state = await provider.State.GetAsync("pump-1");
            Assert.Equal(1200, state.Reported["rpm"]!.GetValue<int>());

            await provider.Registry.DeleteAsync("pump-2");
            await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => provider.Registry.GetAsync("pump-2"));
            // One credentials exchange served every call.
            Assert.Single(registry.Server.Requests, r => r.Path.EndsWith("/getRegistryCredentials", StringComparison.Ordinal));
            Assert.DoesNotContain(registry.Server.Requests, r => r.Path.StartsWith("/v1/", StringComparison.Ordinal));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
