using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Aws.Tests.Fakes;

/// <summary>
/// Connect/disconnect lifecycle events: the fake publishes them with the fields the AWS IoT Developer Guide lists (the official
/// device SDK only subscribes, so it cannot prove the publisher side — these tests pin the wire shape instead), and
/// <see cref="AwsLifecycleEvents"/> turns them into <see cref="DeviceLifecycleEvent"/>s through <see cref="AwsServiceConnection"/>.
/// </summary>
public sealed class AwsLifecycleEventTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly string[] ConnectedFields = ["clientId", "timestamp", "eventType", "sessionIdentifier", "principalIdentifier", "ipAddress", "versionNumber"];
    private static readonly string[] DisconnectedFields = ["clientId", "timestamp", "eventType", "sessionIdentifier", "principalIdentifier", "clientInitiatedDisconnect", "disconnectReason", "versionNumber"];
    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create("AWS fake lifecycle CA");
    private AwsIotMqttFake _fake = null!;

    public async Task InitializeAsync() => _fake = await AwsIotMqttFake.StartAsync(_ca);

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        _ca.Dispose();
    }

    private (AwsDeviceConnection Device, string CertificateId) Device(string thing)
    {
        var credential = _ca.IssueDeviceCertificate(thing);
        using var certificate = credential.ToCertificate();
        var device = new AwsDeviceConnection(new DeviceConnectionOptions { DeviceId = thing, Credential = credential },
            new AwsDeviceEndpoint("localhost", _fake.Port, _fake.TrustedRoots), TimeProvider.System, NullLoggerFactory.Instance);
        return (device, Convert.ToHexStringLower(SHA256.HashData(certificate.RawData)));
    }

    private async Task<AwsServiceConnection> ServiceAsync()
    {
        var service = new AwsServiceConnection(new AwsServiceMqttOptions { Host = "localhost", Port = _fake.Port, ClientId = "iotm-service", ClientCertificate = _ca.IssueDeviceCertificate("iotm-service").ToCertificate(), TrustedRoots = _fake.TrustedRoots },
            1000, TimeProvider.System, NullLoggerFactory.Instance);
        using var cts = new CancellationTokenSource(Timeout);
        await service.StartAsync(cts.Token);
        return service;
    }

    // A plain MQTT subscriber: sees the presence payloads exactly as they are on the wire.
    private async Task<(MqttDeviceClient Client, ConcurrentQueue<(string Topic, JsonObject Payload)> Seen)> WatcherAsync()
    {
        var seen = new ConcurrentQueue<(string, JsonObject)>();
        var client = new MqttDeviceClient(new MqttDeviceClientOptions { Host = "localhost", Port = _fake.Port, ClientId = "iotm-watcher", ClientCertificate = _ca.IssueDeviceCertificate("iotm-watcher").ToCertificate(), TrustedRoots = _fake.TrustedRoots },
            "Aws", TimeProvider.System, NullLogger.Instance);
        await client.SubscribeAsync("$aws/events/presence/+/+", (m, _) => { seen.Enqueue((m.Topic, JsonNode.Parse(m.Payload.Span)!.AsObject())); return ValueTask.CompletedTask; });
        using var cts = new CancellationTokenSource(Timeout);
        await client.ConnectAsync(cts.Token);
        return (client, seen);
    }

    private static async Task<T> Eventually<T>(Func<T?> find, string what) where T : class
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            if (find() is { } found) return found;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Waited {Timeout} for {what}.");
            await Task.Delay(25);
        }
    }

    [Fact]
    public async Task The_fake_publishes_the_documented_connected_payload()
    {
        var (watcher, seen) = await WatcherAsync();
        await using var _ = watcher;
        var (device, certificateId) = Device("dev-life-connect");
        await using var __ = device;
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var cts = new CancellationTokenSource(Timeout);
        await device.ConnectAsync(cts.Token);

        var payload = await Eventually(() => seen.FirstOrDefault(s => s.Topic == "$aws/events/presence/connected/dev-life-connect").Payload, "the connected event");

        Assert.Equal(ConnectedFields.Order(), payload.Select(p => p.Key).Order());
        Assert.Equal("dev-life-connect", (string?)payload["clientId"]);
        Assert.Equal("connected", (string?)payload["eventType"]);
        Assert.InRange((long)payload["timestamp"]!, before - 1000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()); // milliseconds, not seconds
        Assert.False(string.IsNullOrEmpty((string?)payload["sessionIdentifier"]));
        Assert.Equal(certificateId, (string?)payload["principalIdentifier"]);
        Assert.Equal("127.0.0.1", (string?)payload["ipAddress"]);
        Assert.Equal(0, (long)payload["versionNumber"]!);
    }

    [Fact]
    public async Task The_fake_publishes_the_documented_disconnected_payload()
    {
        var (watcher, seen) = await WatcherAsync();
        await using var _ = watcher;
        var (device, certificateId) = Device("dev-life-disconnect");
        using var cts = new CancellationTokenSource(Timeout);
        await device.ConnectAsync(cts.Token);
        var connected = await Eventually(() => seen.FirstOrDefault(s => s.Topic == "$aws/events/presence/connected/dev-life-disconnect").Payload, "the connected event");
        await device.DisposeAsync(); // a clean MQTT DISCONNECT

        var payload = await Eventually(() => seen.FirstOrDefault(s => s.Topic == "$aws/events/presence/disconnected/dev-life-disconnect").Payload, "the disconnected event");

        Assert.Equal(DisconnectedFields.Order(), payload.Select(p => p.Key).Order());
        Assert.Equal("dev-life-disconnect", (string?)payload["clientId"]);
        Assert.Equal("disconnected", (string?)payload["eventType"]);
        Assert.True((bool)payload["clientInitiatedDisconnect"]!);
        Assert.Equal("CLIENT_INITIATED_DISCONNECT", (string?)payload["disconnectReason"]);
        Assert.Equal(certificateId, (string?)payload["principalIdentifier"]);
        Assert.Equal((string?)connected["sessionIdentifier"], (string?)payload["sessionIdentifier"]);
        Assert.True((long)payload["versionNumber"]! > (long)connected["versionNumber"]!);
        Assert.True((long)payload["timestamp"]! >= (long)connected["timestamp"]!);
    }

    [Fact]
    public async Task A_device_connecting_and_disconnecting_yields_connected_then_disconnected_events()
    {
        await using var service = await ServiceAsync();
        var events = new AwsLifecycleEvents(service);
        using var cts = new CancellationTokenSource(Timeout);
        await using var reader = events.ReadAllAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var first = reader.MoveNextAsync(); // registers the reader before the device connects
        var (device, certificateId) = Device("dev-life");

        await device.ConnectAsync(cts.Token);
        Assert.True(await first);
        var connected = reader.Current;
        await device.DisposeAsync();
        Assert.True(await reader.MoveNextAsync());
        var disconnected = reader.Current;

        Assert.Equal(DeviceLifecycleEventType.Connected, connected.EventType);
        Assert.Equal("dev-life", connected.ClientId);
        Assert.Equal(certificateId, connected.PrincipalIdentifier);
        Assert.Equal("127.0.0.1", connected.IpAddress);
        Assert.Null(connected.DisconnectReason);
        Assert.Null(connected.ClientInitiatedDisconnect);
        Assert.InRange(connected.Timestamp, DateTimeOffset.UtcNow - Timeout, DateTimeOffset.UtcNow);

        Assert.Equal(DeviceLifecycleEventType.Disconnected, disconnected.EventType);
        Assert.Equal("dev-life", disconnected.ClientId);
        Assert.Equal(connected.SessionIdentifier, disconnected.SessionIdentifier);
        Assert.Equal(certificateId, disconnected.PrincipalIdentifier);
        Assert.True(disconnected.ClientInitiatedDisconnect);
        Assert.Equal("CLIENT_INITIATED_DISCONNECT", disconnected.DisconnectReason);
        Assert.Null(disconnected.IpAddress);
        Assert.True(disconnected.VersionNumber > connected.VersionNumber);
        Assert.True(disconnected.Timestamp >= connected.Timestamp);
        Assert.Equal(0, events.MalformedEventCount);
    }

    [Fact]
    public async Task Malformed_presence_messages_are_counted_and_skipped()
    {
        await using var service = await ServiceAsync();
        var events = new AwsLifecycleEvents(service);
        using var cts = new CancellationTokenSource(Timeout);
        await using var reader = events.ReadAllAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var next = reader.MoveNextAsync();
        var valid = AwsIotMqttFake.ConnectedEvent("dev-ok", 1_700_000_000_123, "s1", "p1", "192.0.2.0", 7);

        await _fake.InjectAsync("$aws/events/presence/connected/dev-bad", "not json"u8.ToArray());
        await _fake.InjectAsync("$aws/events/presence/connected/dev-bad", "[1,2]"u8.ToArray());
        await _fake.InjectAsync("$aws/events/presence/connected/dev-bad", "{\"clientId\":\"dev-bad\",\"eventType\":\"connected\"}"u8.ToArray());
        await _fake.InjectAsync("$aws/events/presence/connected/dev-bad", Encoding.UTF8.GetBytes(valid.ToJsonString())); // clientId differs from the topic
        await _fake.InjectAsync("$aws/events/presence/disconnected/dev-ok", Encoding.UTF8.GetBytes(valid.ToJsonString())); // eventType differs from the topic
        var stringTimestamp = valid.DeepClone().AsObject();
        stringTimestamp["timestamp"] = "1700000000123";
        await _fake.InjectAsync("$aws/events/presence/connected/dev-ok", Encoding.UTF8.GetBytes(stringTimestamp.ToJsonString()));
        await _fake.InjectAsync("$aws/events/presence/connected/dev-ok", Encoding.UTF8.GetBytes(valid.ToJsonString()));

        Assert.True(await next);
        Assert.Equal("dev-ok", reader.Current.ClientId);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123), reader.Current.Timestamp);
        Assert.Equal(7, reader.Current.VersionNumber);
        // Handlers run in arrival order, so every bad message before the good one has been counted.
        Assert.Equal(6, events.MalformedEventCount);
    }

    [Fact]
    public void Without_a_service_connection_reading_is_not_supported()
    {
        var ex = Assert.Throws<NotSupportedException>(() => new AwsLifecycleEvents(null).ReadAllAsync());
        Assert.Contains("ServiceMqtt", ex.Message);
    }
}
