using System.Security.Cryptography.X509Certificates;
using IoTMastery.Sdk.CloudDoubles.PubSub;
using IoTMastery.Sdk.Gcp;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.CloudDoubles.CloudIot;

/// <summary>
/// Does the vendor MQTT bridge's routing between a broker and the registry double, since no vendor bridge runs offline:
/// device events → the telemetry topic (events on the command-reply subfolder → the reply topic), device state → the
/// registry, and the registry's configs and commands → the device topics. Disposing disconnects it.
/// </summary>
public sealed class GcpBridgeRelay : IAsyncDisposable
{
    private readonly MqttDeviceClient _client;

    private GcpBridgeRelay(MqttDeviceClient client) => _client = client;

    /// <summary>Connects to the broker at localhost:<paramref name="brokerPort"/> (server-auth TLS) and starts routing.</summary>
    public static async Task<GcpBridgeRelay> StartAsync(int brokerPort, X509Certificate2Collection trustedRoots, CloudIotRegistryDouble registry,
        PubSubRest pubsub, GcpIoTOptions options, string telemetryTopic, string replyTopic, CancellationToken cancellationToken = default)
    {
        var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = brokerPort,
            TrustedRoots = trustedRoots,
            ClientId = "bridge-relay-" + Guid.NewGuid().ToString("N")[..8],
            Version = MqttVersion.Mqtt311,
        });
        var relay = new GcpBridgeRelay(client);
        try
        {
            await client.ConnectAsync(cancellationToken);
            await client.SubscribeAsync("/devices/+/events/#", async (m, ct) =>
            {
                var parts = m.Topic.Split('/', 5);
                var attributes = new Dictionary<string, string> { ["deviceId"] = parts[2], ["deviceRegistryId"] = options.RegistryId, ["projectId"] = options.ProjectId };
                if (parts.Length == 5) attributes["subFolder"] = parts[4];
                // The registry's event notification configs: the reply subfolder has its own topic, the rest is telemetry.
                var topic = parts.Length == 5 && parts[4] == options.CommandReplySubfolder ? replyTopic : telemetryTopic;
                await pubsub.PublishAsync(topic, m.Payload, attributes, ct);
            }, cancellationToken: cancellationToken);
            await client.SubscribeAsync("/devices/+/state", (m, _) => { registry.ReportState(m.Topic.Split('/')[2], m.Payload.ToArray()); return default; },
                cancellationToken: cancellationToken);
            registry.ConfigSink = (id, _, data) => client.PublishAsync($"/devices/{id}/config", data, retain: true).GetAwaiter().GetResult();
            registry.CommandSink = (id, sub, data) => { client.PublishAsync($"/devices/{id}/commands" + (sub is null ? "" : "/" + sub), data).GetAwaiter().GetResult(); return true; };
            return relay;
        }
        catch
        {
            await relay.DisposeAsync();
            throw;
        }
    }

    /// <summary>Disconnects from the broker.</summary>
    public ValueTask DisposeAsync() => _client.DisposeAsync();
}
