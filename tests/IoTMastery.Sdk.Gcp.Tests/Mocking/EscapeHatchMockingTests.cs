using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp.Tests.Mocking;

/// <summary>
/// The GCP escape-hatch client a user reaches through <see cref="GcpIoTProvider"/> (<see cref="GcpIoTProvider.CloudIot"/>)
/// can be replaced in the user's own tests by a plain subclass (protected constructor, virtual members), as the Azure
/// SDK's clients can, with no mocking library. (The Pub/Sub client is internal since the surface cut: Google's own
/// Pub/Sub library is the escape hatch for Pub/Sub.)
/// </summary>
public sealed class EscapeHatchMockingTests
{
    // User code under test: takes the SDK types, not interfaces of its own.
    private static async Task<bool> IsBlockedAsync(CloudIotClient cloudIot, string deviceId) =>
        (await cloudIot.GetDeviceAsync(deviceId, "blocked"))["blocked"]?.GetValue<bool>() ?? false;

    [Fact]
    public async Task CloudIotClient_can_be_subclassed_and_GetDeviceAsync_overridden()
    {
        var cloudIot = new CannedCloudIot();
        Assert.True(await IsBlockedAsync(cloudIot, "pump-1"));
        Assert.Equal([("pump-1", "blocked")], cloudIot.Asked);
    }

    private sealed class CannedCloudIot : CloudIotClient
    {
        public List<(string, string?)> Asked { get; } = [];

        public override Task<JsonObject> GetDeviceAsync(string deviceId, string? fieldMask = null, CancellationToken cancellationToken = default)
        {
            Asked.Add((deviceId, fieldMask));
            return Task.FromResult(new JsonObject { ["id"] = deviceId, ["blocked"] = true });
        }
    }
}
