namespace IoTMastery.Sdk.Azure.Tests.Conformance;

/// <summary>
/// Device SAS tokens must equal azure-iot-device's <c>SharedAccessSignature.create</c> byte for byte for every character
/// IoT Hub allows in a device id: the MQTT CONNECT password is this token, and the hub signs the <c>sr</c> it receives.
/// </summary>
public sealed class DeviceSasConformanceTests
{
    /// <summary>Plain ids, the examples, and one id holding every special character IoT Hub allows.</summary>
    public static readonly string[] Ids = ["dev1", "dev.with:colon", "dev_with%percent", "dev$(x)!*'@=,?", "a-.%_*?!(),:=@$'z"];

    private const string Key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    [Fact]
    public async Task Device_tokens_equal_the_official_node_sdk_for_every_allowed_character()
    {
        var expiry = DateTimeOffset.FromUnixTimeSeconds(1700000000);
        var node = await NodeOracle.DeviceSasTokensAsync(IotHubDouble.HubHost, Key, expiry, Ids);
        Assert.Equal(Ids.Length, node.Count);
        foreach (var id in Ids)
            Assert.Equal(node[id], SasToken.Create(SasToken.DeviceResource(IotHubDouble.HubHost, id), Key, expiry));
    }
}
