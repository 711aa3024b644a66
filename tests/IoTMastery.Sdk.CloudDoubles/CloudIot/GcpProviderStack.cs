using IoTMastery.Sdk.CloudDoubles.PubSub;
using IoTMastery.Sdk.Gcp;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.CloudDoubles.CloudIot;

/// <summary>Which MQTT bridge a <see cref="GcpProviderStack"/> runs.</summary>
public enum GcpBridgePeer
{
    /// <summary>Mosquitto (server-auth TLS, no device authentication) with the <see cref="GcpBridgeRelay"/> routing.</summary>
    Mosquitto,

    /// <summary>
    /// The <see cref="CloudIotBridgeDouble"/> joined to the registry double: it verifies device JWTs against the registered keys,
    /// refuses blocked devices, ends revoked sessions and answers FAILED_PRECONDITION for a command nobody is subscribed to.
    /// </summary>
    VerifyingDouble,
}

/// <summary>
/// A whole GCP-style provider on loopback: the Pub/Sub emulator (telemetry and command-reply topics with
/// subscriptions), the registry double, and a bridge (<see cref="GcpBridgePeer"/>): Mosquitto with the GcpBridgeRelay
/// doing the vendor bridge's routing, or the verifying bridge double. Disposing stops everything this stack started.
/// </summary>
public sealed class GcpProviderStack : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly MosquittoBroker? _broker;

    private GcpProviderStack(MosquittoBroker? broker) => _broker = broker;

    public required GcpIoTProvider Provider { get; init; }

    public required CloudIotRegistryDouble Registry { get; init; }

    /// <summary>The Mosquitto bridge broker; only for <see cref="GcpBridgePeer.Mosquitto"/>.</summary>
    public MosquittoBroker Broker => _broker ?? throw new InvalidOperationException("This stack runs the verifying bridge double, not Mosquitto.");

    /// <summary>The verifying bridge; only for <see cref="GcpBridgePeer.VerifyingDouble"/>.</summary>
    public CloudIotBridgeDouble? Bridge { get; private init; }

    public required GcpIoTOptions Options { get; init; }

    /// <summary>The firmware store file of <see cref="Options"/>; a second provider built on the same options shares it.</summary>
    public required TempFirmwareStore FirmwareStore { get; init; }

    public static async Task<GcpProviderStack> StartAsync(PubSubEmulator emulator, bool withReplies = true, bool telemetryToPubSub = false,
        GcpBridgePeer bridge = GcpBridgePeer.Mosquitto, Action<GcpIoTOptions>? configure = null)
    {
        var owned = new List<IAsyncDisposable>();
        try
        {
            var suffix = Guid.NewGuid().ToString("N")[..8];
            var firmwareStore = new TempFirmwareStore();
            owned.Add(new DisposeAsAsync(firmwareStore));
            var pubsub = emulator.Rest;
            string telemetry = "telemetry-" + suffix, replies = "replies-" + suffix;
            await pubsub.CreateTopicAsync(telemetry);
            await pubsub.CreateSubscriptionAsync(telemetry + "-sub", telemetry, ackDeadlineSeconds: 30);
            await pubsub.CreateTopicAsync(replies);
            await pubsub.CreateSubscriptionAsync(replies + "-sub", replies, ackDeadlineSeconds: 30);

            var registry = new CloudIotRegistryDouble();
            owned.Add(registry);
            var registryPath = new CloudIotRegistryName(emulator.ProjectId, "us-central1", "reg-" + suffix);
            MosquittoBroker? broker = null;
            CloudIotBridgeDouble? verifying = null;
            if (bridge == GcpBridgePeer.Mosquitto)
            {
                // The bridge broker: server-auth TLS only, since mosquitto cannot check the device JWT sent as password.
                broker = await MosquittoBroker.StartAsync(new MosquittoBrokerOptions { ClientAuthentication = MosquittoClientAuthentication.None });
                owned.Add(broker);
            }
            else
            {
                verifying = await CloudIotBridgeDouble.StartAsync(registryPath, registry.PublicKeys);
                owned.Add(verifying);
            }
            var options = new GcpIoTOptions
            {
                ProjectId = registryPath.ProjectId,
                Location = registryPath.Location,
                RegistryId = registryPath.RegistryId,
                CloudIotBaseUrl = registry.Server.BaseUrl,
                PubSubBaseUrl = emulator.BaseUrl,
                TelemetryTopicId = telemetry,
                TelemetrySubscriptionId = telemetry + "-sub",
                CommandReplySubscriptionId = withReplies ? replies + "-sub" : null,
                Transport = { DeviceHost = "localhost", DevicePort = broker?.Port ?? verifying!.Port, TrustedRoots = broker?.TrustedRoots ?? verifying!.TrustedRoots },
                DeviceTelemetryToPubSub = telemetryToPubSub,
                EmptyPullDelay = TimeSpan.FromMilliseconds(50),
                FirmwareStorePath = firmwareStore.Path,
            };
            configure?.Invoke(options);
            if (broker is not null)
                owned.Add(await GcpBridgeRelay.StartAsync(broker.Port, broker.TrustedRoots, registry, pubsub, options, telemetry, replies));
            else
                verifying!.RouteFor(registry, pubsub, telemetry, replies, options.CommandReplySubfolder);

            var provider = await GcpIoTProvider.StartAsync(options);
            owned.Add(provider);
            var stack = new GcpProviderStack(broker) { Provider = provider, Registry = registry, Options = options, Bridge = verifying, FirmwareStore = firmwareStore };
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
