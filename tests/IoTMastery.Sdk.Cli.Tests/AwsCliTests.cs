using System.Text.Json.Nodes;
using IoTMastery.Sdk.CloudDoubles.Moto;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>The tool as a process against moto's AWS IoT control and data plane, configured only from the environment.</summary>
public sealed class AwsCliTests(MotoServer moto) : IClassFixture<MotoServer>, IAsyncLifetime, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-aws-").FullName;

    public Task InitializeAsync() => moto.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // The same section names as AddIoT().AddAws("eu", configuration.GetSection("IoT:Aws:eu")); credentials from the standard chain.
    private Dictionary<string, string?> Env => new()
    {
        ["IOTM_IoT__Aws__eu__Region"] = "us-east-1",
        ["IOTM_IoT__Aws__eu__ControlPlaneEndpoint"] = moto.Endpoint.ToString(),
        ["IOTM_IoT__Aws__eu__DataPlaneEndpoint"] = moto.Endpoint.ToString(),
        ["IOTM_IoT__Aws__eu__RequestTimeout"] = "00:00:20",
        ["IOTM_IoT__Aws__eu__Retry__MaxRetries"] = "1",
        ["AWS_ACCESS_KEY_ID"] = "testing",
        ["AWS_SECRET_ACCESS_KEY"] = "testing",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };

    private Task<IotmRun> Iotm(params string[] args) => IotmProcess.RunAsync(["--provider", "aws", .. args], Env);

    private static JsonNode Json(IotmRun run)
    {
        Assert.True(run.ExitCode == 0, run.ToString());
        return JsonNode.Parse(run.Stdout)!;
    }

    [Fact]
    public async Task Fleet_operations_run_end_to_end_against_moto()
    {
        var bundles = Path.Combine(_dir, "bundles");
        var registered = await Iotm("devices", "register", "sensor-1", "--attr", "site=north", "--out", bundles, "-o", "json");
        var device = Json(registered);
        Assert.Equal("sensor-1", (string?)device["id"]);
        Assert.DoesNotContain("PRIVATE KEY", registered.Stdout, StringComparison.Ordinal);
        var key = Path.Combine((string)device["issued"]!["bundle"]!, "private-key.pem");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, Modes.Of(key));

        Assert.Equal(0, (await Iotm("devices", "register", "sensor-2", "--credential", "none")).ExitCode);
        var list = Json(await Iotm("devices", "list", "-o", "json")).AsArray();
        Assert.Equal(["sensor-1", "sensor-2"], list.Select(d => (string)d!["id"]!).Order(StringComparer.Ordinal).ToArray());

        Assert.Equal(3, (await Iotm("devices", "register", "sensor-2", "--credential", "none")).ExitCode);
        Assert.Equal(2, (await Iotm("devices", "show", "missing")).ExitCode);

        var rotated = Json(await Iotm("creds", "rotate", "sensor-1", "--out", bundles, "-o", "json"));
        Assert.NotEqual((string?)device["issued"]!["id"], (string?)rotated["id"]);
        Assert.Equal(0, (await Iotm("creds", "revoke", "sensor-1", "--credential-id", (string)rotated["id"]!)).ExitCode);

        var set = Json(await Iotm("state", "set", "sensor-2", "--desired", """{"rate":5}""", "-o", "json"));
        Assert.Equal(5, (int)set["desired"]!["rate"]!);
        Assert.Equal(5, (int)Json(await Iotm("state", "get", "sensor-2", "-o", "json"))["desired"]!["rate"]!);

        Assert.Equal("disabled", (string?)Json(await Iotm("devices", "disable", "sensor-2", "-o", "json"))["status"]);
        Assert.Equal(0, (await Iotm("devices", "delete", "sensor-2", "--yes")).ExitCode);
        Assert.Equal(2, (await Iotm("devices", "show", "sensor-2")).ExitCode);
    }

    [Fact]
    public async Task The_cost_model_meters_AWS_with_the_units_the_AWS_provider_declares()
    {
        // The price table's unit and the model's message limit must be the ones the provider packs to, or packed costs lie.
        await using var aws = await Aws.AwsIoTProvider.StartAsync(moto.Options(o => o.EnsureDevicePolicy = false));
        Assert.Equal(aws.Capabilities.TelemetryBillingUnitBytes, Cost.PriceTable.Embedded().Aws.UnitBytes);
        Assert.Equal(Cost.CostModel.AwsMaxMessageBytes, aws.Capabilities.MaxTelemetryMessageBytes);
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_a_transient_failure()
    {
        var env = Env;
        env["IOTM_IoT__Aws__eu__ControlPlaneEndpoint"] = $"http://127.0.0.1:{MotoServer.FreePort()}/";
        env["IOTM_IoT__Aws__eu__DataPlaneEndpoint"] = env["IOTM_IoT__Aws__eu__ControlPlaneEndpoint"];
        env["IOTM_IoT__Aws__eu__EnsureDevicePolicy"] = "false";
        var run = await IotmProcess.RunAsync(["--provider", "aws", "devices", "show", "x"], env);
        Assert.Equal(5, run.ExitCode);
    }
}
