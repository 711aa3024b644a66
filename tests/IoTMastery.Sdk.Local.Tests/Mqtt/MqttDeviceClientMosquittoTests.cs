using System.Text;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Local.Tests;

/// <summary>MqttDeviceClient against an independent broker (Eclipse Mosquitto) with mutual TLS.</summary>
public sealed class MqttDeviceClientMosquittoTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task QoS1_publish_is_acknowledged_and_received_by_a_second_subscriber()
    {
        await using var mosquitto = await MosquittoBroker.StartAsync();
        await using var publisher = CreateClient(mosquitto, "dev-001");
        await using var subscriber = CreateClient(mosquitto, "dev-002", MqttVersion.Mqtt311);
        var received = TestWaits.NewSignal<MqttIncomingMessage>();
        await subscriber.SubscribeAsync("devices/dev-001/events", (m, _) =>
        {
            received.TrySetResult(m);
            return ValueTask.CompletedTask;
        });
        await subscriber.ConnectAsync().WaitAsync(Timeout);
        await publisher.ConnectAsync().WaitAsync(Timeout);

        await publisher.PublishAsync("devices/dev-001/events", Encoding.UTF8.GetBytes("""{"t":1}"""), MqttQualityOfService.AtLeastOnce).WaitAsync(Timeout);

        var message = await received.Task.WaitAsync(Timeout);
        Assert.Equal("""{"t":1}""", Encoding.UTF8.GetString(message.Payload.Span));
        Assert.True(publisher.IsConnected);
    }

    [Fact]
    public async Task Connect_fails_clearly_when_the_server_certificate_is_not_trusted()
    {
        await using var mosquitto = await MosquittoBroker.StartAsync();
        using var otherCa = LocalCertificateAuthority.Create("not the broker's CA");
        await using var client = CreateClient(mosquitto, "dev-001", trustedRoot: otherCa);

        var ex = await Assert.ThrowsAsync<IoTException>(() => client.ConnectAsync().WaitAsync(Timeout));

        Assert.Equal("ServerCertificateUntrusted", ex.ErrorCode);
        Assert.False(ex.IsTransient);
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task A_missing_client_certificate_is_an_authentication_error_and_not_retried()
    {
        // Mosquitto with require_certificate: the refusal is a TLS alert, before any CONNECT.
        await using var mosquitto = await MosquittoBroker.StartAsync();
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost", Port = mosquitto.Port, ClientId = "dev-001", TrustedRoots = [mosquitto.Ca.Certificate],
        });

        var ex = await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => client.ConnectAsync().WaitAsync(Timeout));

        Assert.Equal("ClientCertificateRequired", ex.ErrorCode);
        Assert.False(ex.IsTransient);
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task Publish_while_disconnected_is_a_transient_iot_exception()
    {
        await using var mosquitto = await MosquittoBroker.StartAsync();
        await using var client = CreateClient(mosquitto, "dev-001");

        var ex = await Assert.ThrowsAsync<IoTException>(() => client.PublishAsync("devices/dev-001/events", new byte[] { 1 }));

        Assert.True(ex.IsTransient);
        Assert.Equal("NotConnected", ex.ErrorCode);
    }

    [Fact]
    public async Task Reconnects_and_resubscribes_after_mosquitto_is_killed_and_restarted()
    {
        await using var mosquitto = await MosquittoBroker.StartAsync();
        await using var subscriber = CreateClient(mosquitto, "dev-002");
        await using var publisher = CreateClient(mosquitto, "dev-001");
        var received = TestWaits.NewSignal<MqttIncomingMessage>();
        await subscriber.SubscribeAsync("devices/dev-001/events", (m, _) =>
        {
            received.TrySetResult(m);
            return ValueTask.CompletedTask;
        });
        await subscriber.ConnectAsync().WaitAsync(Timeout);
        var lost = TestWaits.NewSignal<MqttDisconnectedEventArgs>();
        var back = TestWaits.NewSignal<bool>();
        subscriber.Disconnected += (_, e) => lost.TrySetResult(e);
        subscriber.Connected += (_, _) => back.TrySetResult(true);

        await mosquitto.KillAsync();
        Assert.True((await lost.Task.WaitAsync(Timeout)).WillReconnect);
        await mosquitto.RestartAsync();
        await back.Task.WaitAsync(Timeout);
        await publisher.ConnectAsync().WaitAsync(Timeout);
        await publisher.PublishAsync("devices/dev-001/events", Encoding.UTF8.GetBytes("after-restart")).WaitAsync(Timeout);

        // persistence is off, so only a resubscription can deliver this.
        Assert.Equal("after-restart", Encoding.UTF8.GetString((await received.Task.WaitAsync(Timeout)).Payload.Span));
    }

    private static MqttDeviceClient CreateClient(MosquittoBroker mosquitto, string clientId, MqttVersion version = MqttVersion.Mqtt5, LocalCertificateAuthority? trustedRoot = null) =>
        new(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = mosquitto.Port,
            ClientId = clientId,
            ClientCertificate = mosquitto.Ca.IssueDeviceCertificate(clientId).ToCertificate(),
            TrustedRoots = [(trustedRoot ?? mosquitto.Ca).Certificate],
            Version = version,
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        });
}
