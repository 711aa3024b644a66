using IoTMastery.Sdk.CloudDoubles.PubSub;
using IoTMastery.Sdk.Gcp;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.CloudDoubles.CloudIot;

/// <summary>
/// A whole GCP-style provider on loopback: the Pub/Sub emulator (telemetry and command-reply topics with
/// subscriptions), the registry double, Mosquitto as the bridge broker, and the
/// GcpBridgeRelay doing the vendor bridge's routing. Disposing stops everything this stack started.
/// </summary>
public sealed class GcpProviderStack : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    public required GcpIoTProvider Provider { get; init; }

    public required CloudIotRegistryDouble Registry { get; init; }

    public required MosquittoBroker Broker { get; init; }

    public required GcpIoTOptions Options { get; init; }

    /// <summary>The firmware store file of <see cref="Options"/>; a second provider built on the same options shares it.</summary>
    public required TempFirmwareStore FirmwareStore { get; init; }

    public static async Task<GcpProviderStack> StartAsync(PubSubEmulator emulator, bool withReplies = true, GcpDeviceTelemetryRoute route = GcpDeviceTelemetryRoute.BridgeEvents)
    {
        var owned = new List<IAsyncDisposable>();
        try
        {
            var suffix = Guid.NewGuid().ToString("N")[..8];
            var firmwareStore = new TempFirmwareStore();
            owned.Add(new DisposeAsAsync(firmwareStore));
            var pubsub = emulator.CreateClient();
            string telemetry = "telemetry-" + suffix, replies = "replies-" + suffix;
            await pubsub.CreateTopicAsync(telemetry);
            await pubsub.CreateSubscriptionAsync(telemetry + "-sub", telemetry, new PubSubSubscriptionSettings { AckDeadlineSeconds = 30 });
            await pubsub.CreateTopicAsync(replies);
            await pubsub.CreateSubscriptionAsync(replies + "-sub", replies, new PubSubSubscriptionSettings { AckDeadlineSeconds = 30 });

            // The bridge broker: server-auth TLS only, since mosquitto cannot check the device JWT sent as password.
            var broker = await MosquittoBroker.StartAsync(new MosquittoBrokerOptions { ClientAuthentication = MosquittoClientAuthentication.None });
            owned.Add(broker);
            var registry = new CloudIotRegistryDouble();
            owned.Add(registry);
            var options = new GcpIoTOptions
            {
                ProjectId = emulator.ProjectId,
                RegistryId = "reg-" + suffix,
                CloudIotBaseUrl = registry.Server.BaseUrl,
                PubSubBaseUrl = emulator.BaseUrl,
                Authenticator = NoAuthenticator.Instance,
                TelemetryTopicId = telemetry,
                TelemetrySubscriptionId = telemetry + "-sub",
                CommandReplySubscriptionId = withReplies ? replies + "-sub" : null,
                BridgeHost = "localhost",
                BridgePort = broker.Port,
                BridgeTrustedRoots = broker.TrustedRoots,
                DeviceTelemetry = route,
                EmptyPullDelay = TimeSpan.FromMilliseconds(50),
                FirmwareStorePath = firmwareStore.Path,
            };
            owned.Add(await GcpBridgeRelay.StartAsync(broker.Port, broker.TrustedRoots, registry, pubsub, options, telemetry, replies));

            var provider = await GcpIoTProvider.StartAsync(options);
            owned.Add(provider);
            var stack = new GcpProviderStack { Provider = provider, Registry = registry, Broker = broker, Options = options, FirmwareStore = firmwareStore };
            stack._owned.AddRange(owned);
            return stack;
        }
        catch
        {
            foreach (var o in Enumerable.Reverse(owned)) await o.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var o in Enumerable.Reverse(_owned)) await o.DisposeAsync();
    }

    private sealed class DisposeAsAsync(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
