using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Aws.Tests.Mocking;

/// <summary>
/// The AWS escape-hatch clients a user reaches through <see cref="AwsIoTProvider"/> can be replaced in the user's own tests
/// by a plain subclass (protected constructor, virtual members), as the Azure SDK's clients can, with no mocking library.
/// </summary>
public sealed class EscapeHatchMockingTests
{
    // User code under test: takes the SDK type, not an interface of its own.
    private static async Task<double?> ReportedTemperatureAsync(AwsShadowService shadows, string thing) =>
        (await shadows.GetAsync(thing, "env"))["state"]?["reported"]?["temperature"]?.GetValue<double>();

    private static async Task<List<string>> ConnectedClientsAsync(AwsLifecycleEvents events, CancellationToken ct)
    {
        var connected = new List<string>();
        await foreach (var e in events.ReadAllAsync(ct))
            if (e.EventType == DeviceLifecycleEventType.Connected) connected.Add(e.ClientId);
        return connected;
    }

    [Fact]
    public async Task AwsShadowService_can_be_subclassed_and_GetAsync_overridden()
    {
        var shadows = new CannedShadows();
        Assert.Equal(21.5, await ReportedTemperatureAsync(shadows, "pump-1"));
        Assert.Equal([("pump-1", "env")], shadows.Asked);
    }

    [Fact]
    public async Task AwsLifecycleEvents_can_be_subclassed_and_ReadAllAsync_overridden()
    {
        var events = new CannedLifecycle();
        Assert.Equal(0, events.MalformedEventCount);
        Assert.Equal(["pump-1"], await ConnectedClientsAsync(events, CancellationToken.None));
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

    private sealed class CannedLifecycle : AwsLifecycleEvents
    {
        public override long MalformedEventCount => 0;

        public override async IAsyncEnumerable<DeviceLifecycleEvent> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            foreach (var (client, type) in new[] { ("pump-1", DeviceLifecycleEventType.Connected), ("pump-2", DeviceLifecycleEventType.Disconnected) })
                yield return new DeviceLifecycleEvent
                {
                    ClientId = client, EventType = type, Timestamp = DateTimeOffset.UnixEpoch, SessionIdentifier = "s", PrincipalIdentifier = "p", VersionNumber = 1,
                };
        }
    }
}
