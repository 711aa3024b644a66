using System.Text;
using System.Text.Json.Nodes;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace IoTMastery.Sdk.Local.Tests;

public sealed class LocalBrokerTests
{
    private static readonly TimeSpan Timeout = BrokerTestHost.Timeout;

    [Fact]
    public async Task Device_with_its_own_certificate_connects_over_mutual_tls()
    {
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-1").ToCertificate();
        var client = host.CreateRawClient();

        var result = await client.ConnectAsync(host.RawOptions("dev-1", cert)).WaitAsync(Timeout);
        // A subscribe round trip guarantees the broker has finished registering the session.
        await client.SubscribeAsync(LocalTopics.DesiredState("dev-1")).WaitAsync(Timeout);

        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        Assert.True(host.Broker.IsConnected("dev-1"));
        Assert.NotEqual(0, host.Broker.Port);
    }

    [Fact]
    public async Task Client_without_a_certificate_is_refused()
    {
        await using var host = await BrokerTestHost.StartAsync();
        host.AddDevice("dev-1");
        var client = host.CreateRawClient();

        await AssertRefusedAsync(() => client.ConnectAsync(host.RawOptions("dev-1", certificate: null)));
        Assert.False(host.Broker.IsConnected("dev-1"));
        Assert.Equal(0, host.Policy.Calls);
    }

    [Fact]
    public async Task Certificate_from_another_ca_is_refused_with_not_authorized()
    {
        await using var host = await BrokerTestHost.StartAsync();
        host.AddDevice("dev-1");
        using var otherCa = LocalCertificateAuthority.Create("Other CA");
        var foreign = otherCa.IssueDeviceCertificate("dev-1");
        host.Policy.Allow("dev-1", foreign.Id); // even a registry entry does not rescue a certificate of the wrong CA
        using var cert = foreign.ToCertificate();
        var client = host.CreateRawClient();

        var result = await client.ConnectAsync(host.RawOptions("dev-1", cert)).WaitAsync(Timeout);

        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, result.ResultCode);
        Assert.Equal(0, host.Policy.Calls);
    }

    // The CONNECT check takes the CA's verdict from the chain the TLS handshake already built (with the CA's policy and clock)
    // instead of building it again; a certificate the CA's clock says has expired must still be refused, before the registry.
    [Fact]
    public async Task Certificate_expired_by_the_CAs_clock_is_refused_with_the_chain_built_once_per_connection()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await BrokerTestHost.StartAsync(caTime: clock);
        using var cert = host.AddDevice("dev-1", CredentialRequest.X509 with { Validity = TimeSpan.FromDays(1) }).ToCertificate();

        var first = host.CreateRawClient();
        Assert.Equal(MqttClientConnectResultCode.Success, (await first.ConnectAsync(host.RawOptions("dev-1", cert)).WaitAsync(Timeout)).ResultCode);
        await first.DisconnectAsync().WaitAsync(Timeout);
        Assert.Equal(1, host.Policy.Calls);

        clock.Advance(TimeSpan.FromDays(2));
        var second = host.CreateRawClient();
        var result = await second.ConnectAsync(host.RawOptions("dev-1", cert)).WaitAsync(Timeout);

        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, result.ResultCode);
        Assert.Equal(1, host.Policy.Calls); // refused by the CA check, before the registry was asked
        Assert.Equal(0, host.Broker.ConnectChainBuilds); // both decisions used the handshake's chain
    }

    [Fact]
    public async Task Certificate_whose_common_name_is_not_the_client_id_is_refused()
    {
        await using var host = await BrokerTestHost.StartAsync();
        host.AddDevice("dev-a");
        using var certOfB = host.AddDevice("dev-b").ToCertificate();
        var client = host.CreateRawClient();

        var result = await client.ConnectAsync(host.RawOptions("dev-a", certOfB)).WaitAsync(Timeout);

        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, result.ResultCode);
    }

    [Fact]
    public async Task Certificate_the_registry_revoked_is_refused_over_mqtt_311_too()
    {
        await using var host = await BrokerTestHost.StartAsync();
        var credential = host.AddDevice("dev-1");
        host.Policy.Revoke("dev-1", credential.Id);
        using var cert = credential.ToCertificate();
        var client = host.CreateRawClient();

        var result = await client.ConnectAsync(host.RawOptions("dev-1", cert, MqttProtocolVersion.V311)).WaitAsync(Timeout);

        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, result.ResultCode);
        Assert.Equal(1, host.Policy.Calls);
    }

    [Theory]
    [InlineData("devices/dev-b/commands/#")]
    [InlineData("devices/dev-b/state/desired")]
    [InlineData("devices/+/commands/#")]
    [InlineData("devices/#")]
    [InlineData("#")]
    [InlineData("devices/dev-a/telemetry")]
    [InlineData("$share/g/devices/dev-a/commands/#")]
    public async Task Device_cannot_subscribe_outside_its_own_commands_and_desired_state(string filter)
    {
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-a").ToCertificate();
        var client = host.CreateRawClient();
        await client.ConnectAsync(host.RawOptions("dev-a", cert)).WaitAsync(Timeout);

        var refused = await client.SubscribeAsync(filter).WaitAsync(Timeout);
        var allowed = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("devices/dev-a/commands/#").WithTopicFilter("devices/dev-a/commands/reboot/+").WithTopicFilter("devices/dev-a/state/desired").Build()).WaitAsync(Timeout);

        // MQTTnet itself answers shared subscriptions with SharedSubscriptionsNotSupported; either way nothing is granted.
        Assert.Contains(Assert.Single(refused.Items).ResultCode, new[] { MqttClientSubscribeResultCode.NotAuthorized, MqttClientSubscribeResultCode.SharedSubscriptionsNotSupported });
        Assert.All(allowed.Items, i => Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS0, i.ResultCode));
    }

    [Fact]
    public async Task Device_cannot_publish_as_another_device_and_the_victim_never_sees_it()
    {
        await using var host = await BrokerTestHost.StartAsync();
        using var certA = host.AddDevice("dev-a").ToCertificate();
        using var certB = host.AddDevice("dev-b").ToCertificate();
        var a = host.CreateRawClient();
        var b = host.CreateRawClient();
        var firstAtB = TestWaits.NewSignal<string>();
        b.ApplicationMessageReceivedAsync += e =>
        {
            firstAtB.TrySetResult(e.ApplicationMessage.Topic);
            return Task.CompletedTask;
        };
        await b.ConnectAsync(host.RawOptions("dev-b", certB)).WaitAsync(Timeout);
        await b.SubscribeAsync("devices/dev-b/commands/#", MqttQualityOfServiceLevel.AtLeastOnce).WaitAsync(Timeout);
        await a.ConnectAsync(host.RawOptions("dev-a", certA)).WaitAsync(Timeout);

        var forged = await a.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/dev-b/commands/unlock/1").WithPayload("{}")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()).WaitAsync(Timeout);
        var forgedTelemetry = await a.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/dev-b/telemetry").WithPayload("[]")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()).WaitAsync(Timeout);
        // The forged publish was handled before its PUBACK, so a later legitimate message must be B's first.
        await host.Broker.PublishAsync("devices/dev-b/commands/ping/2", Encoding.UTF8.GetBytes("{}"), retain: false, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, forged.ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, forgedTelemetry.ReasonCode);
        Assert.Equal("devices/dev-b/commands/ping/2", await firstAtB.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_will_message_on_another_devices_topic_is_never_delivered()
    {
        await using var host = await BrokerTestHost.StartAsync();
        using var certA = host.AddDevice("dev-a").ToCertificate();
        using var certB = host.AddDevice("dev-b").ToCertificate();
        var a = host.CreateRawClient();
        var b = host.CreateRawClient();
        var firstAtB = TestWaits.NewSignal<string>();
        b.ApplicationMessageReceivedAsync += e =>
        {
            firstAtB.TrySetResult(e.ApplicationMessage.Topic);
            return Task.CompletedTask;
        };
        await b.ConnectAsync(host.RawOptions("dev-b", certB)).WaitAsync(Timeout);
        await b.SubscribeAsync("devices/dev-b/commands/#", MqttQualityOfServiceLevel.AtLeastOnce).WaitAsync(Timeout);
        var withWill = new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", host.Broker.Port)
            .WithClientId("dev-a")
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic("devices/dev-b/commands/unlock/1")
            .WithWillPayload("{}"u8.ToArray())
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTlsOptions(host.RawOptions("dev-a", certA).ChannelOptions.TlsOptions)
            .Build();
        await a.ConnectAsync(withWill).WaitAsync(Timeout);

        // Dropping the connection without DISCONNECT makes the broker publish the will.
        a.Dispose();
        await TestWaits.UntilAsync(() => !host.Broker.IsConnected("dev-a"), Timeout);
        await host.Broker.PublishAsync("devices/dev-b/commands/ping/2", Encoding.UTF8.GetBytes("{}"), retain: false, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal("devices/dev-b/commands/ping/2", await firstAtB.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Telemetry_records_naming_another_device_are_dropped_and_counted()
    {
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-a").ToCertificate();
        var client = host.CreateRawClient();
        await client.ConnectAsync(host.RawOptions("dev-a", cert)).WaitAsync(Timeout);
        await using var reader = host.Telemetry.ReadAllAsync().GetAsyncEnumerator();
        var first = reader.MoveNextAsync(); // registers the reader before anything is published

        var batch = """[{"d":"dev-b","m":"t","v":1,"t":1},{"d":"dev-a","m":"t","v":2,"t":2}]""";
        var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/dev-a/telemetry").WithPayload(batch)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()).WaitAsync(Timeout);

        Assert.True(result.IsSuccess);
        Assert.True(await first.AsTask().WaitAsync(Timeout));
        Assert.Equal(("dev-a", 2.0), (reader.Current.DeviceId, reader.Current.Value));
        Assert.Equal(1, host.Telemetry.RejectedRecords);
    }

    [Fact]
    public async Task Reported_state_patches_reach_the_sink_with_the_publishers_id()
    {
        await using var host = await BrokerTestHost.StartAsync();
        await using var device = host.CreateDevice("dev-a", host.AddDevice("dev-a"));
        await device.ConnectAsync().WaitAsync(Timeout);

        await device.ReportStateAsync(new JsonObject { ["fw"] = "1.2.3" }).WaitAsync(Timeout);

        var (deviceId, patch) = await host.ReportedState.Received.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal("dev-a", deviceId);
        Assert.Equal("1.2.3", (string?)patch["fw"]);
    }

    [Fact]
    public async Task Fleet_publish_outside_device_topics_is_rejected_before_the_network()
    {
        await using var host = await BrokerTestHost.StartAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => host.Broker.PublishAsync("other/topic", default, false, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => host.Broker.PublishAsync("devices/+/commands", default, false, CancellationToken.None));
    }

    [Fact]
    public async Task Disconnect_closes_the_devices_session()
    {
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-a").ToCertificate();
        var client = host.CreateRawClient();
        var disconnected = TestWaits.NewSignal<bool>();
        client.DisconnectedAsync += _ =>
        {
            disconnected.TrySetResult(true);
            return Task.CompletedTask;
        };
        await client.ConnectAsync(host.RawOptions("dev-a", cert)).WaitAsync(Timeout);
        await client.SubscribeAsync(LocalTopics.DesiredState("dev-a")).WaitAsync(Timeout);

        await host.Broker.DisconnectAsync("dev-a", CancellationToken.None).WaitAsync(Timeout);

        Assert.True(await disconnected.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_silent_connection_holds_its_admission_slot_only_until_the_handshake_timeout()
    {
        // One slot. MQTTnet's own listener had no handshake timeout: a peer that never sent a ClientHello kept its socket forever.
        await using var host = await BrokerTestHost.StartAsync(options: new LocalBrokerOptions
        {
            MaxConcurrentHandshakes = 1, HandshakeTimeout = TimeSpan.FromSeconds(1), AdmissionTimeout = TimeSpan.FromSeconds(30),
        });
        using var cert = host.AddDevice("dev-1").ToCertificate();
        using var silent = new System.Net.Sockets.TcpClient();
        await silent.ConnectAsync(System.Net.IPAddress.Loopback, host.Broker.Port).WaitAsync(Timeout);
        await TestWaits.UntilAsync(() => host.Broker.AdmissionSlotsFree == 0, Timeout);

        // The device queues behind the silent peer and gets the slot when the broker cuts it.
        var client = host.CreateRawClient();
        var result = await client.ConnectAsync(host.RawOptions("dev-1", cert)).WaitAsync(Timeout);

        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        var closed = await silent.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout);
        Assert.Equal(0, closed);
        Assert.Equal(0, host.Broker.AdmissionRefusals);
    }

    [Fact]
    public async Task A_connection_that_waits_longer_than_the_admission_timeout_is_closed_without_a_handshake_and_the_device_retries()
    {
        await using var host = await BrokerTestHost.StartAsync(options: new LocalBrokerOptions
        {
            MaxConcurrentHandshakes = 1, HandshakeTimeout = TimeSpan.FromSeconds(3), AdmissionTimeout = TimeSpan.FromMilliseconds(300),
        });
        using var cert = host.AddDevice("dev-1").ToCertificate();
        using var silent = new System.Net.Sockets.TcpClient();
        await silent.ConnectAsync(System.Net.IPAddress.Loopback, host.Broker.Port).WaitAsync(Timeout);
        await TestWaits.UntilAsync(() => host.Broker.AdmissionSlotsFree == 0, Timeout);

        // The device's first attempt waits behind the silent peer, is sent away, and a jittered retry gets in once the peer is cut.
        await using var device = new IoTMastery.Sdk.Mqtt.MqttDeviceClient(new IoTMastery.Sdk.Mqtt.MqttDeviceClientOptions
        {
            Host = "127.0.0.1", Port = host.Broker.Port, ClientId = "dev-1", ClientCertificate = cert, TrustedRoots = [host.Ca.Certificate],
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(200), ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        }, "Local");
        await device.ConnectAsync().WaitAsync(Timeout);

        Assert.True(device.IsConnected);
        Assert.True(host.Broker.AdmissionRefusals >= 1, "the first attempt was not refused by admission control");
    }

    private static async Task AssertRefusedAsync(Func<Task<MqttClientConnectResult>> connect)
    {
        MqttClientConnectResult? result = null;
        try
        {
            result = await connect().WaitAsync(Timeout);
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            return; // a TLS-level refusal surfaces as an exception
        }
        Assert.NotEqual(MqttClientConnectResultCode.Success, result.ResultCode);
    }
}
