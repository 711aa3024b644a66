using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>The device side of the bridge protocol against a real Mosquitto broker: topics, client id, QoS, JWT password and renewal.</summary>
public sealed class GcpBridgeClientMosquittoTests
{
    private static readonly CloudIotRegistryPath Registry = new("proj-1", "us-central1", "reg-1");
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static MqttDeviceClient Observer(MosquittoBroker broker) => new(new MqttDeviceClientOptions
    {
        Host = "localhost", Port = broker.Port, TrustedRoots = broker.TrustedRoots, ClientId = "observer-" + Guid.NewGuid().ToString("N")[..6], Version = MqttVersion.Mqtt311,
    });

    private static GcpBridgeClient Device(MosquittoBroker broker, string id, string privateKey, TimeProvider? time = null, TimeSpan? lifetime = null) => new(new GcpBridgeOptions
    {
        Host = "localhost", Port = broker.Port, TrustedRoots = broker.TrustedRoots, Registry = Registry, DeviceId = id, PrivateKeyPem = privateKey,
        JwtLifetime = lifetime ?? TimeSpan.FromMinutes(60),
    }, time);

    [Fact]
    public async Task Events_state_config_and_commands_flow_on_the_bridge_topics_with_the_device_path_as_client_id()
    {
        await using var broker = await BridgeMosquitto.StartAsync();
        var (_, key, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        await using var observer = Observer(broker);
        var seen = new ConcurrentQueue<(string Topic, string Payload)>();
        await observer.ConnectAsync();
        await observer.SubscribeAsync("/devices/#", (m, _) => { seen.Enqueue((m.Topic, Encoding.UTF8.GetString(m.Payload.Span))); return default; });

        await using var device = Device(broker, "dev-1", key);
        var configs = new ConcurrentQueue<string>();
        var commands = new ConcurrentQueue<(string? Sub, string Data)>();
        await device.ConnectAsync();
        await device.SubscribeConfigAsync((p, _) => { configs.Enqueue(Encoding.UTF8.GetString(p.Span)); return default; });
        await device.SubscribeCommandsAsync((sub, p, _) => { commands.Enqueue((sub, Encoding.UTF8.GetString(p.Span))); return default; });

        await device.PublishEventAsync("[{\"d\":\"dev-1\",\"m\":\"t\",\"v\":1,\"t\":0}]"u8.ToArray());
        await device.PublishEventAsync("{\"alert\":1}"u8.ToArray(), "alerts/high");
        await device.PublishStateAsync("{\"firmware\":{\"version\":\"1.0.0\"}}"u8.ToArray());
        await observer.PublishAsync("/devices/dev-1/config", "{\"fan\":2}"u8.ToArray());
        await observer.PublishAsync("/devices/dev-1/commands/ops/now", "reboot"u8.ToArray());
        await observer.PublishAsync("/devices/dev-1/commands", "ping"u8.ToArray());

        await WaitUntil(() => seen.Count >= 6 && configs.Count >= 1 && commands.Count >= 2);
        var topics = seen.Select(s => s.Topic).ToList();
        Assert.Contains("/devices/dev-1/events", topics);
        Assert.Contains("/devices/dev-1/events/alerts/high", topics);
        Assert.Contains("/devices/dev-1/state", topics);
        Assert.Equal("{\"fan\":2}", Assert.Single(configs));
        Assert.Contains(("ops/now", "reboot"), commands);
        Assert.Contains((null, "ping"), commands);
        // Mosquitto logs the CONNECT: MQTT 3.1.1 (p2), clean session (c1), keep-alive 60 s, user name 'unused', client id = device path.
        Assert.Contains($"as {Registry.Device("dev-1")} (p2, c1, k60, u'unused')", broker.ReadLog());
        await Assert.ThrowsAsync<ArgumentException>(() => device.PublishEventAsync(new byte[10], "bad/#"));
        await Assert.ThrowsAsync<ArgumentException>(() => device.PublishEventAsync(new byte[256 * 1024 + 1]));
    }

    [Fact]
    public async Task The_jwt_password_is_renewed_by_reconnecting_before_it_expires()
    {
        await using var broker = await BridgeMosquitto.StartAsync();
        var (publicPem, key, _) = DeviceKeys.Generate(KeyAlgorithm.Rsa2048);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var device = Device(broker, "dev-renew", key, time, TimeSpan.FromMinutes(10));
        await device.ConnectAsync();
        Assert.Equal(1, device.TokensIssued);
        time.Advance(TimeSpan.FromMinutes(7)); // before 80 % of the lifetime: no renewal
        await Task.Delay(300);
        Assert.Equal(1, device.TokensIssued);
        time.Advance(TimeSpan.FromMinutes(1.5)); // past 80 %
        await WaitUntil(() => device.TokensIssued >= 2 && device.Mqtt.IsConnected);
        await WaitUntil(() => CountOccurrences(broker.ReadLog(), $"as {Registry.Device("dev-renew")} ") >= 2);
        await device.PublishEventAsync("[]"u8.ToArray());
    }

    [Fact]
    public async Task A_gateway_attaches_a_bound_device_with_that_devices_jwt_and_detaches_it()
    {
        await using var broker = await BridgeMosquitto.StartAsync();
        var (_, gatewayKey, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var (boundPublic, boundKey, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        await using var observer = Observer(broker);
        var seen = new ConcurrentQueue<(string Topic, byte[] Payload)>();
        await observer.ConnectAsync();
        await observer.SubscribeAsync("/devices/#", (m, _) => { seen.Enqueue((m.Topic, m.Payload.ToArray())); return default; });
        await using var gateway = Device(broker, "gw-1", gatewayKey);
        await gateway.ConnectAsync();
        await gateway.AttachAsync("bound-1", boundKey);
        await gateway.AttachAsync("bound-2");
        await gateway.PublishEventAsync("[]"u8.ToArray(), deviceId: "bound-1");
        await gateway.DetachAsync("bound-1");
        await WaitUntil(() => seen.Count >= 4);

        var attach = JsonDocument.Parse(seen.First(s => s.Topic == "/devices/bound-1/attach").Payload);
        var jwt = attach.RootElement.GetProperty("authorization").GetString()!.Split('.');
        using var ec = ECDsa.Create();
        ec.ImportFromPem(boundPublic);
        Assert.True(ec.VerifyData(Encoding.ASCII.GetBytes(jwt[0] + "." + jwt[1]), Base64Url.DecodeFromChars(jwt[2]), HashAlgorithmName.SHA256));
        Assert.Equal("{}", Encoding.UTF8.GetString(seen.First(s => s.Topic == "/devices/bound-2/attach").Payload));
        Assert.Contains(seen, s => s.Topic == "/devices/bound-1/events");
        Assert.Contains(seen, s => s.Topic == "/devices/bound-1/detach");
    }

    [Fact]
    public void Bad_options_are_refused_before_connecting_and_ToString_hides_the_key()
    {
        var (_, key, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var ok = new GcpBridgeOptions { Host = "localhost", Registry = Registry, DeviceId = "dev-1", PrivateKeyPem = key };
        Assert.Throws<ArgumentOutOfRangeException>(() => new GcpBridgeClient(ok with { JwtLifetime = TimeSpan.FromHours(25) }));
        Assert.Throws<ArgumentException>(() => new GcpBridgeClient(ok with { DeviceId = "1bad" }));
        Assert.Throws<ArgumentException>(() => new GcpBridgeClient(ok with { PrivateKeyPem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----" }));
        Assert.DoesNotContain("PRIVATE KEY", ok.ToString());
    }

    private static int CountOccurrences(string text, string value)
    {
        int count = 0, index = 0;
        while ((index = text.IndexOf(value, index, StringComparison.Ordinal)) >= 0) { count++; index += value.Length; }
        return count;
    }

    internal static async Task WaitUntil(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Bound);
        while (!condition())
            await Task.Delay(25, deadline.Token);
    }
}
