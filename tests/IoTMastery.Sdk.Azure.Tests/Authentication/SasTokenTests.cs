using System.Security.Cryptography;
using System.Text;

namespace IoTMastery.Sdk.Azure.Tests.Authentication;

/// <summary>SAS vectors confirmed with the official Node, C# and Python SDKs, which agree byte for byte.</summary>
public sealed class SasTokenTests
{
    private const string Key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    private static readonly DateTimeOffset Expiry = DateTimeOffset.FromUnixTimeSeconds(1700000000);

    [Fact]
    public void Key_is_bytes_0_to_31() =>
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(), Convert.FromBase64String(Key));

    [Fact]
    public void Device_token_matches_the_vector() =>
        Assert.Equal("SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D&se=1700000000",
            SasToken.Create(SasToken.DeviceResource("myhub.azure-devices.net", "dev1"), Key, Expiry));

    [Fact]
    public void Service_token_matches_the_vector() =>
        Assert.Equal("SharedAccessSignature sr=myhub.azure-devices.net&sig=iIzEw6hi6GK79RY5jNXO6QeQkSL%2FAx4zTmy44X2G1VY%3D&se=1700000000&skn=iothubowner",
            SasToken.Create("myhub.azure-devices.net", Key, Expiry, "iothubowner"));

    [Fact]
    public void Unencoded_sr_signature_matches_the_vector() =>
        Assert.Equal("MXrV7dIYA4Nv1boM3d4kgQQtxA3MyMN/BRPwZ8fvsA0=",
            SasToken.Sign(Convert.FromBase64String(Key), "myhub.azure-devices.net/devices/dev1\n1700000000"));

    [Fact]
    public void Dps_group_key_derivation_matches_the_vector() =>
        Assert.Equal("/OIz5aluR4ThnTycFAG+c+xKzx8Hd+4p3Dv9OkbUSGc=", SasToken.DeriveDeviceKey(Key, "reg-001"));

    [Fact]
    public void Dps_token_uses_skn_registration_and_the_scope_resource()
    {
        var token = SasToken.Create(SasToken.ProvisioningResource("0ne00000A0A", "reg-001"), Key, Expiry, "registration");
        var expectedSig = Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(Key), Encoding.UTF8.GetBytes("0ne00000A0A%2Fregistrations%2Freg-001\n1700000000")));
        Assert.Equal($"SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Freg-001&sig={System.Net.WebUtility.UrlEncode(expectedSig)}&se=1700000000&skn=registration", token);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64!")]
    public void Bad_keys_are_rejected_without_echoing_them(string key)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => SasToken.Create("h/devices/d", key, Expiry));
        if (key.Length > 0) Assert.DoesNotContain(key, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Connection_string_parses_at_the_first_equals_and_hides_the_key()
    {
        var cs = IotHubConnectionString.Parse($"HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={Key}");
        Assert.Equal("myhub.azure-devices.net", cs.HostName);
        Assert.Equal("iothubowner", cs.SharedAccessKeyName);
        Assert.Equal(Key, cs.SharedAccessKey);
        Assert.Equal("myhub", cs.HubName);
        Assert.DoesNotContain(Key, cs.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("SharedAccessKey=AAAA")]
    [InlineData("HostName=h")]
    [InlineData("HostName=h;garbage")]
    public void Bad_connection_strings_are_rejected(string value) =>
        Assert.ThrowsAny<ArgumentException>(() => IotHubConnectionString.Parse(value));

    [Fact]
    public void Options_ToString_hides_secrets()
    {
        var options = new AzureIoTOptions { ConnectionString = $"HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={Key}" };
        Assert.DoesNotContain(Key, options.ToString(), StringComparison.Ordinal);
        Assert.Contains("myhub.azure-devices.net", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_DPS_registration_needs_exactly_one_key_and_is_refused_before_connecting()
    {
        // Port 1 on loopback: a registration that got past its checks would fail on the connection instead.
        DpsRegistrationOptions Options(string? deviceKey, string? groupKey) => new()
        {
            Host = "127.0.0.1", Port = 1, IdScope = "0ne00000A0A", RegistrationId = "reg-001", DeviceKey = deviceKey, EnrollmentGroupKey = groupKey,
        };
        Assert.Equal("DeviceKey", (await Assert.ThrowsAnyAsync<ArgumentException>(() => AzureIoTProvider.RegisterWithDpsAsync(Options(null, null)))).ParamName);
        Assert.Equal("DeviceKey", (await Assert.ThrowsAnyAsync<ArgumentException>(() => AzureIoTProvider.RegisterWithDpsAsync(Options(Key, Key)))).ParamName);
        var badGroup = await Assert.ThrowsAnyAsync<ArgumentException>(() => AzureIoTProvider.RegisterWithDpsAsync(Options(null, "not base64!")));
        Assert.Equal("EnrollmentGroupKey", badGroup.ParamName);
        Assert.DoesNotContain("not base64!", badGroup.Message, StringComparison.Ordinal);
    }
}
