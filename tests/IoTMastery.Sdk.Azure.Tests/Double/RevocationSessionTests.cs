namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>
/// Revocation ends live sessions by disabling the device briefly (IoT Hub checks credentials only at CONNECT): the status
/// it leaves behind must be the one it found, and the credentials not revoked must still connect.
/// </summary>
[Collection(DoubleCollection.Name)]
public sealed class RevocationSessionTests
{
    private static readonly CredentialRequest SasKey = new() { Kind = CredentialKind.SymmetricKey };

    [Fact]
    public async Task Revoking_cuts_the_live_session_and_leaves_the_device_enabled_with_no_status_reason()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "rv1", Credential = SasKey });
        var second = await provider.Registry.IssueCredentialAsync("rv1", SasKey);
        await using var live = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "rv1", Credential = second });
        await live.ConnectAsync();
        Assert.True(hub.IsConnected("rv1"));

        await provider.Registry.RevokeCredentialAsync("rv1", second.Id);

        // The double cuts before it answers the disabling PUT, so the session is gone when revoke returns.
        Assert.Contains(hub.StatusCuts, c => c.DeviceId == "rv1");
        var identity = await provider.Hub.GetDeviceIdentityAsync("rv1");
        Assert.Equal("enabled", identity["status"]!.GetValue<string>());
        Assert.Null(identity["statusReason"]);
        await live.DisposeAsync();
        await using var other = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "rv1", Credential = registration.Credential! });
        await other.ConnectAsync();
        Assert.True(other.IsConnected);
    }

    [Fact]
    public async Task Revoking_a_credential_of_a_disabled_device_does_not_enable_it()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "rv2", Credential = SasKey });
        var second = await provider.Registry.IssueCredentialAsync("rv2", SasKey);
        await provider.Registry.DisableAsync("rv2");

        await provider.Registry.RevokeCredentialAsync("rv2", second.Id);

        Assert.False((await provider.Registry.GetAsync("rv2")).Enabled);
    }
}
