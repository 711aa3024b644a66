using IoTMastery.Sdk.TestSupport;
namespace IoTMastery.Sdk.Azure.Tests.Telemetry;

/// <summary>One batch = one IoT Hub message: limits, metering and the property bag.</summary>
public sealed class AzureTelemetryTransportTests
{
    [Fact]
    public void Topic_carries_system_then_application_properties_encoded_like_the_node_sdk()
    {
        var topic = AzureTelemetryTransport.TopicFor("dev1", "m1", [new("alert", "hi there"), new("site", "a/b")]);
        Assert.Equal("devices/dev1/messages/events/%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&alert=hi%20there&site=a%2Fb", topic);
    }

    [Fact]
    public async Task Limits_are_256_KB_metered_in_4_KB_units_with_property_bytes_counted()
    {
        await using var client = new IoTMastery.Sdk.Mqtt.MqttDeviceClient(new IoTMastery.Sdk.Mqtt.MqttDeviceClientOptions { Host = "localhost", ClientId = "dev1" });
        var transport = new AzureTelemetryTransport(client, "dev1", new Dictionary<string, string> { ["site"] = "lab" });
        Assert.Equal(4096, transport.Limits.BillingUnitBytes);
        var overhead = 32 + "application/json".Length + "utf-8".Length + "site".Length + "lab".Length;
        Assert.Equal(overhead, transport.Limits.BillingOverheadBytes);
        Assert.Equal(256 * 1024 - overhead, transport.Limits.MaxMessageBytes);
    }

    [Fact]
    public async Task Message_id_is_stable_for_a_retried_batch_and_differs_between_batches()
    {
        await using var client = new IoTMastery.Sdk.Mqtt.MqttDeviceClient(new IoTMastery.Sdk.Mqtt.MqttDeviceClientOptions { Host = "localhost", ClientId = "dev1" });
        var transport = new AzureTelemetryTransport(client, "dev1", null);
        var a = transport.Topic("[1]"u8);
        Assert.Equal(a, transport.Topic("[1]"u8));
        Assert.NotEqual(a, transport.Topic("[2]"u8));
    }

    [Theory]
    [InlineData("$.mid")]
    [InlineData("iothub-connection-device-id")]
    [InlineData("")]
    public async Task Reserved_property_names_are_rejected(string name)
    {
        await using var client = new IoTMastery.Sdk.Mqtt.MqttDeviceClient(new IoTMastery.Sdk.Mqtt.MqttDeviceClientOptions { Host = "localhost", ClientId = "dev1" });
        Assert.Throws<ArgumentException>(() => new AzureTelemetryTransport(client, "dev1", new Dictionary<string, string> { [name] = "x" }));
    }

    [Fact]
    public async Task Oversize_messages_fail_before_sending()
    {
        await using var provider = AzureIoTProvider.Create(new AzureIoTOptions { ConnectionString = "HostName=h.azure-devices.net;SharedAccessKeyName=p;SharedAccessKey=AAAA" });
        await using var device = (AzureDeviceConnection)provider.CreateDeviceConnection(new DeviceConnectionOptions
        {
            DeviceId = "dev1",
            Credential = new IssuedCredential(new CredentialInfo { Id = "sas-primary", Kind = CredentialKind.SymmetricKey }, symmetricKey: "AAAA"),
        });
        var ex = await IoTAssert.ThrowsAsync(IoTErrorKind.PayloadTooLarge, () => device.SendMessageAsync(new byte[256 * 1024 + 1]));
        Assert.Contains("262144 bytes", ex.Message, StringComparison.Ordinal);
    }
}
