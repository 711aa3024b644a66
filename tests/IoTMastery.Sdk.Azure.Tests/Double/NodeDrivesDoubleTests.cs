using IoTMastery.Sdk.Azure.Tests.Conformance;

namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>The official Node.js clients run the whole scenario against the double first: the double is held to the real contract.</summary>
[Collection(DoubleCollection.Name)]
public sealed class NodeDrivesDoubleTests
{
    [Fact]
    public async Task Official_node_sdks_complete_the_scenario_against_the_double()
    {
        await using var hub = await IotHubDouble.StartAsync();
        var (code, output) = await NodeOracle.RunScenarioAsync(hub);
        Assert.True(code == 0, "The Node.js scenario failed against the double:\n" + output + "\nCaptured:\n"
            + string.Join("\n", hub.Captured.Where(c => c.Kind != "http").Select(c => $"{c.Kind} {c.Path} {c.Query} {c.Body}")));
        foreach (var step in new[] { "create", "create-duplicate", "update-twin", "update-twin-stale", "query", "get-missing", "device-twin", "reported", "desired", "telemetry", "method", "method-offline", "dps", "dps-individual", "delete", "x509", "x509-ca", "bulk-statistics", "jobs", "bulk-delete" })
            Assert.Contains($"\"step\":\"{step}\"", output, StringComparison.Ordinal);
        Assert.Contains("DeviceAlreadyExistsError", output, StringComparison.Ordinal);
        Assert.Contains("DeviceNotFoundError", output, StringComparison.Ordinal);
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DoubleCollection
{
    public const string Name = "IoT Hub double";
}
