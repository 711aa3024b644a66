using IoTMastery.Sdk.TestSupport;
namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>
/// Registry and command behaviours that used to surprise: every listed credential can be revoked, revoking the last
/// certificate works as on the other providers, out-of-range command timeouts are refused, an unknown creation time is null.
/// </summary>
[Collection(DoubleCollection.Name)]
public sealed class RegistryContractTests
{
    [Fact]
    public async Task Ca_mode_devices_list_no_credential_because_the_hub_holds_none_to_revoke()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub, o => o.CertificateAuthority = hub.VerifiedCa);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "cam2", Credential = CredentialRequest.X509 });
        // The hub accepts any certificate of the verified CA with CN = device id; nothing per device exists to list or revoke.
        Assert.Empty(registered.Device.Credentials);
        Assert.Empty((await provider.Registry.GetAsync("cam2")).Credentials);
        var notFound = await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => provider.Registry.RevokeCredentialAsync("cam2", "certificate-authority"));
        Assert.Contains("disable or delete", notFound.Message, StringComparison.Ordinal);
        await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "cam2", Credential = registered.Credential! });
        await device.ConnectAsync();
    }

    [Fact]
    public async Task Revoking_the_only_certificate_leaves_no_usable_credential_until_one_is_issued()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "cam1", Credential = CredentialRequest.X509 });
        await provider.Registry.RevokeCredentialAsync("cam1", registered.Credential!.Id);
        Assert.Empty((await provider.Registry.GetAsync("cam1")).Credentials);
        await using (var revoked = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "cam1", Credential = registered.Credential }))
            await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => revoked.ConnectAsync());
        // Revoking it again: it is no longer listed, so it is not found.
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => provider.Registry.RevokeCredentialAsync("cam1", registered.Credential.Id));

        var fresh = await provider.Registry.IssueCredentialAsync("cam1", CredentialRequest.X509);
        Assert.Equal([fresh.Id], (await provider.Registry.GetAsync("cam1")).Credentials.Select(c => c.Id));
        await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "cam1", Credential = fresh });
        await device.ConnectAsync();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Command_timeouts_under_the_hubs_5_s_minimum_are_refused_before_the_network(int seconds)
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            provider.Commands.InvokeAsync("dev1", new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(seconds) }));
        Assert.Contains("5 s", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(hub.Captured, c => c.Path.EndsWith("/methods", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Creation_time_is_unknown_because_iot_hub_does_not_report_one()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1" });
        Assert.Null(registered.Device.CreatedAt);
        Assert.Null((await provider.Registry.GetAsync("dev1")).CreatedAt);
        Assert.All(await provider.Registry.ListAsync().ToListAsync(), d => Assert.Null(d.CreatedAt));
    }
}
