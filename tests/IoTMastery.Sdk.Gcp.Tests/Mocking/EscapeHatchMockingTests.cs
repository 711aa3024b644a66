using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp.Tests.Mocking;

/// <summary>
/// The GCP escape-hatch clients a user reaches through <see cref="GcpIoTProvider"/> (<see cref="GcpIoTProvider.CloudIot"/>,
/// <see cref="GcpIoTProvider.PubSub"/>) can be replaced in the user's own tests by a plain subclass (protected
/// constructor, virtual members), as the Azure SDK's clients can, with no mocking library.
/// </summary>
public sealed class EscapeHatchMockingTests
{
    // User code under test: takes the SDK types, not interfaces of its own.
    private static async Task<bool> IsBlockedAsync(CloudIotClient cloudIot, string deviceId) =>
        (await cloudIot.GetDeviceAsync(deviceId, "blocked"))["blocked"]?.GetValue<bool>() ?? false;

    private static async Task<int> DrainAsync(PubSubClient pubSub, string subscription)
    {
        var messages = await pubSub.PullAsync(subscription, 10);
        await pubSub.AcknowledgeAsync(subscription, messages.Select(m => m.AckId).ToList());
        return messages.Count;
    }

    [Fact]
    public async Task CloudIotClient_can_be_subclassed_and_GetDeviceAsync_overridden()
    {
        var cloudIot = new CannedCloudIot();
        Assert.True(await IsBlockedAsync(cloudIot, "pump-1"));
        Assert.Equal([("pump-1", "blocked")], cloudIot.Asked);
    }

    [Fact]
    public async Task PubSubClient_can_be_subclassed_and_PullAsync_and_AcknowledgeAsync_overridden()
    {
        var pubSub = new CannedPubSub();
        Assert.Equal(2, await DrainAsync(pubSub, "telemetry-sub"));
        Assert.Equal(["a1", "a2"], pubSub.Acked);
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

    private sealed class CannedPubSub : PubSubClient
    {
        public List<string> Acked { get; } = [];

        public override Task<IReadOnlyList<ReceivedPubSubMessage>> PullAsync(string subscriptionId, int maxMessages, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<ReceivedPubSubMessage>>(
            [
                new ReceivedPubSubMessage { AckId = "a1", MessageId = "m1", Data = Encoding.UTF8.GetBytes("{}") },
                new ReceivedPubSubMessage { AckId = "a2", MessageId = "m2", Data = Encoding.UTF8.GetBytes("{}") },
            ]);

        public override Task AcknowledgeAsync(string subscriptionId, IReadOnlyCollection<string> ackIds, CancellationToken cancellationToken = default)
        {
            Acked.AddRange(ackIds);
            return Task.CompletedTask;
        }
    }
}
