using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure.Tests.Mocking;

/// <summary>
/// <see cref="IotHubServiceClient"/>, the escape hatch a user reaches through <see cref="AzureIoTProvider.Hub"/>, can be
/// replaced in the user's own tests by a plain subclass (protected constructor, virtual members), as the Azure SDK's
/// clients can, with no mocking library.
/// </summary>
public sealed class EscapeHatchMockingTests
{
    // User code under test: takes the SDK type, not an interface of its own.
    private static async Task<string?> FirmwareOfAsync(IotHubServiceClient hub, string deviceId) =>
        (await hub.GetTwinAsync(deviceId))["properties"]?["reported"]?["fw"]?.GetValue<string>();

    [Fact]
    public async Task IotHubServiceClient_can_be_subclassed_and_GetTwinAsync_overridden()
    {
        var hub = new CannedHub();
        Assert.Equal("2.0.0", await FirmwareOfAsync(hub, "pump-1"));
        Assert.Equal(["pump-1"], hub.Asked);
    }

    private sealed class CannedHub : IotHubServiceClient
    {
        public List<string> Asked { get; } = [];

        public override Task<JsonObject> GetTwinAsync(string deviceId, CancellationToken cancellationToken = default)
        {
            Asked.Add(deviceId);
            return Task.FromResult(new JsonObject { ["deviceId"] = deviceId, ["properties"] = new JsonObject { ["reported"] = new JsonObject { ["fw"] = "2.0.0" } } });
        }
    }
}
