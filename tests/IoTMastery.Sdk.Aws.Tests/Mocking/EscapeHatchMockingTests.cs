using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Aws.Tests.Mocking;

/// <summary>
/// The AWS escape-hatch client a user reaches through <see cref="AwsIoTProvider"/> can be replaced in the user's own tests
/// by a plain subclass (protected constructor, virtual members), as the Azure SDK's clients can, with no mocking library.
/// </summary>
public sealed class EscapeHatchMockingTests
{
    // User code under test: takes the SDK type, not an interface of its own.
    private static async Task<double?> ReportedTemperatureAsync(AwsShadowService shadows, string thing) =>
        (await shadows.GetAsync(thing, "env"))["state"]?["reported"]?["temperature"]?.GetValue<double>();

    [Fact]
    public async Task AwsShadowService_can_be_subclassed_and_GetAsync_overridden()
    {
        var shadows = new CannedShadows();
        Assert.Equal(21.5, await ReportedTemperatureAsync(shadows, "pump-1"));
        Assert.Equal([("pump-1", "env")], shadows.Asked);
    }

    private sealed class CannedShadows : AwsShadowService
    {
        public List<(string, string?)> Asked { get; } = [];

        public override Task<JsonObject> GetAsync(string thingName, string? shadowName = null, CancellationToken cancellationToken = default)
        {
            Asked.Add((thingName, shadowName));
            return Task.FromResult(new JsonObject { ["state"] = new JsonObject { ["reported"] = new JsonObject { ["temperature"] = 21.5 } }, ["version"] = 3 });
        }
    }
}
