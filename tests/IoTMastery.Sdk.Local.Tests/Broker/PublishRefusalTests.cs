using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace IoTMastery.Sdk.Local.Tests;

/// <summary>
/// Issue #12 item 8: MQTT 3.1.1 has no negative PUBACK, so a refused publish that is acknowledged looks like success to the
/// device. A 3.1.1 client's connection is closed instead; an MQTT 5 client gets the reason code and stays connected.
/// Raw MQTTnet clients at both protocol versions against the real broker.
/// </summary>
public sealed class PublishRefusalTests
{
    private static readonly TimeSpan Timeout = BrokerTestHost.Timeout;

    public static TheoryData<string, string, string, MqttClientPublishReasonCode> Refusals => new()
    {
        // another device's topic, a topic outside the device tree, reported state that is not a JSON object
        { "forbidden", "devices/dev-b/commands/unlock/1", "{}", MqttClientPublishReasonCode.NotAuthorized },
        { "outside", "other/topic", "{}", MqttClientPublishReasonCode.NotAuthorized },
        { "invalid-reported", "devices/dev-a/state/reported", "not json", MqttClientPublishReasonCode.PayloadFormatInvalid },
        { "array-reported", "devices/dev-a/state/reported", "[1,2]", MqttClientPublishReasonCode.PayloadFormatInvalid },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task A_refused_publish_from_an_mqtt_311_client_closes_its_connection(string refusal, string topic, string payload, MqttClientPublishReasonCode reasonAtV5)
    {
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-a").ToCertificate();
        host.AddDevice("dev-b");
        var client = host.CreateRawClient();
        var disconnected = TestWaits.NewSignal<bool>();
        client.DisconnectedAsync += _ =>
        {
            disconnected.TrySetResult(true);
            return Task.CompletedTask;
        };
        await client.ConnectAsync(host.RawOptions("dev-a", cert, MqttProtocolVersion.V311)).WaitAsync(Timeout);

        MqttClientPublishResult? acknowledged = null;
        try
        {
            acknowledged = await client.PublishAsync(Message(topic, payload)).WaitAsync(Timeout);
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            // The broker closed the connection instead of acknowledging: the device sees the failure.
        }

        Assert.True(acknowledged is null, $"{refusal} ({reasonAtV5} at MQTT 5) was acknowledged at 3.1.1 with {acknowledged?.ReasonCode}");
        Assert.True(await disconnected.Task.WaitAsync(Timeout));
        Assert.False(host.ReportedState.Received.Reader.TryRead(out var stored), $"a refused report reached the state sink: {stored}");
    }

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task A_refused_publish_from_an_mqtt_5_client_gets_the_reason_code_and_the_connection_stays(string refusal, string topic, string payload, MqttClientPublishReasonCode expected)
    {
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-a").ToCertificate();
        host.AddDevice("dev-b");
        var client = host.CreateRawClient();
        await client.ConnectAsync(host.RawOptions("dev-a", cert, MqttProtocolVersion.V500)).WaitAsync(Timeout);

        var refused = await client.PublishAsync(Message(topic, payload)).WaitAsync(Timeout);
        var accepted = await client.PublishAsync(Message("devices/dev-a/state/reported", """{"ok":true}""")).WaitAsync(Timeout);

        Assert.True(expected == refused.ReasonCode, $"{refusal}: {refused.ReasonCode}");
        Assert.Equal(MqttClientPublishReasonCode.Success, accepted.ReasonCode);
        Assert.True(client.IsConnected);
        var (deviceId, patch) = await host.ReportedState.Received.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(("dev-a", """{"ok":true}"""), (deviceId, patch.ToJsonString()));
    }

    [Fact]
    public async Task An_accepted_publish_from_an_mqtt_311_client_is_acknowledged_and_the_connection_stays()
    {
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-a").ToCertificate();
        var client = host.CreateRawClient();
        await client.ConnectAsync(host.RawOptions("dev-a", cert, MqttProtocolVersion.V311)).WaitAsync(Timeout);

        var accepted = await client.PublishAsync(Message("devices/dev-a/state/reported", """{"ok":true}""")).WaitAsync(Timeout);

        Assert.Equal(MqttClientPublishReasonCode.Success, accepted.ReasonCode);
        Assert.True(client.IsConnected);
        Assert.Equal("dev-a", (await host.ReportedState.Received.Reader.ReadAsync().AsTask().WaitAsync(Timeout)).DeviceId);
    }

    [Fact]
    public async Task A_forbidden_will_of_an_mqtt_311_client_is_dropped_and_the_broker_keeps_serving()
    {
        // The will is published after the session ended: the refusal path must cope with a connection that is already gone.
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
        await b.ConnectAsync(host.RawOptions("dev-b", certB, MqttProtocolVersion.V311)).WaitAsync(Timeout);
        await b.SubscribeAsync("devices/dev-b/commands/#", MqttQualityOfServiceLevel.AtLeastOnce).WaitAsync(Timeout);
        var withWill = new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", host.Broker.Port)
            .WithClientId("dev-a")
            .WithProtocolVersion(MqttProtocolVersion.V311)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic("devices/dev-b/commands/unlock/1")
            .WithWillPayload("{}"u8.ToArray())
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTlsOptions(host.RawOptions("dev-a", certA).ChannelOptions.TlsOptions)
            .Build();
        await a.ConnectAsync(withWill).WaitAsync(Timeout);

        a.Dispose(); // no DISCONNECT: the broker publishes the will
        await TestWaits.UntilAsync(() => !host.Broker.IsConnected("dev-a"), Timeout);
        await host.Broker.PublishAsync("devices/dev-b/commands/ping/2", Encoding.UTF8.GetBytes("{}"), retain: false, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal("devices/dev-b/commands/ping/2", await firstAtB.Task.WaitAsync(Timeout));
        Assert.True(b.IsConnected);
    }

    private static MqttApplicationMessage Message(string topic, string payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(Encoding.UTF8.GetBytes(payload))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
}
