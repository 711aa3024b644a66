using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// The fleet commands every provider's end-to-end class runs through the tool as a process: register (the key lands in an
/// owner-only bundle, never on stdout), list, the conflict and not-found exit codes, rotate and revoke, desired state,
/// disable and delete.
/// </summary>
public static class CliFleetSmoke
{
    /// <param name="iotm">Runs the tool with the provider's options already given.</param>
    /// <param name="bundles">The folder for credential bundles.</param>
    public static async Task RunAsync(Func<string[], Task<IotmRun>> iotm, string bundles)
    {
        var registered = await iotm(["devices", "register", "sensor-1", "--attr", "site=north", "--out", bundles, "-o", "json"]);
        var device = registered.Json();
        Assert.Equal("sensor-1", (string?)device["id"]);
        Assert.Equal("north", (string?)device["attributes"]!["site"]);
        Assert.DoesNotContain("PRIVATE KEY", registered.Stdout, StringComparison.Ordinal);
        var bundle = (string)device["issued"]!["bundle"]!;
        Assert.All(Directory.GetFiles(bundle), f => Assert.Equal(Modes.OwnerFile, Modes.Of(f)));
        Assert.Contains(Directory.GetFiles(bundle), f => Path.GetFileName(f) is "private-key.pem" or "symmetric-key.txt");

        Assert.Equal(0, (await iotm(["devices", "register", "sensor-2", "--credential", "none"])).ExitCode);
        var list = (await iotm(["devices", "list", "-o", "json"])).Json().AsArray();
        Assert.Equal(["sensor-1", "sensor-2"], list.Select(d => (string)d!["id"]!).Order(StringComparer.Ordinal).ToArray());

        Assert.Equal(3, (await iotm(["devices", "register", "sensor-2", "--credential", "none"])).ExitCode);
        Assert.Equal(2, (await iotm(["devices", "show", "missing"])).ExitCode);

        var rotated = await iotm(["creds", "rotate", "sensor-1", "--out", bundles, "-o", "json"]);
        Assert.DoesNotContain("PRIVATE KEY", rotated.Stdout, StringComparison.Ordinal);
        var rotatedId = (string?)rotated.Json()["id"];
        Assert.NotEqual((string?)device["issued"]!["id"], rotatedId);
        var shown = (await iotm(["devices", "show", "sensor-1", "-o", "json"])).Json();
        Assert.Contains(shown["credentials"]!.AsArray(), c => (string?)c!["id"] == rotatedId && (string?)c["status"] == "active");
        Assert.Equal(0, (await iotm(["creds", "revoke", "sensor-1", "--credential-id", rotatedId!])).ExitCode);
        Assert.DoesNotContain((await iotm(["devices", "show", "sensor-1", "-o", "json"])).Json()["credentials"]!.AsArray(),
            c => (string?)c!["id"] == rotatedId && (string?)c["status"] == "active");

        var set = (await iotm(["state", "set", "sensor-2", "--desired", """{"rate":5,"mode":{"eco":true}}""", "-o", "json"])).Json();
        Assert.Equal(5, (int)set["desired"]!["rate"]!);
        var state = (await iotm(["state", "get", "sensor-2", "-o", "json"])).Json();
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"rate":5,"mode":{"eco":true}}"""), state["desired"]), state.ToJsonString());

        Assert.Equal("disabled", (string?)(await iotm(["devices", "disable", "sensor-2", "-o", "json"])).Json()["status"]);
        Assert.Equal("disabled", (string?)(await iotm(["devices", "show", "sensor-2", "-o", "json"])).Json()["status"]);
        Assert.Equal(0, (await iotm(["devices", "delete", "sensor-2", "--yes"])).ExitCode);
        Assert.Equal(2, (await iotm(["devices", "show", "sensor-2"])).ExitCode);
    }
}
