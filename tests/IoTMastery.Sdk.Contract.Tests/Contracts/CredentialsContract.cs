using IoTMastery.Sdk.TestSupport;
namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>Credentials the registry issues let the device connect, on every provider.</summary>
public abstract class CredentialsContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task An_issued_credential_connects_and_is_listed_without_secrets()
    {
        var registration = await RegisterAsync();
        var credential = registration.Credential!;
        Assert.Contains(Provider.Capabilities.DefaultCredentialKind, Provider.Capabilities.CredentialKinds);
        Assert.Equal(Provider.Capabilities.DefaultCredentialKind, credential.Info.Kind);

        var device = await ConnectAsync(registration);

        Assert.True(device.IsConnected);
        var listed = (await Provider.Registry.GetAsync(registration.Device.Id, Ct)).Credentials;
        Assert.Contains(listed, c => c.Id == credential.Id);
    }
}

/// <summary>
/// The peer enforces rotation, revocation and disabling at connect time, and a revocation or disable also ends a live
/// connection.
/// </summary>
public abstract class CredentialEnforcementContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task After_rotation_the_old_credential_is_refused_and_the_new_one_connects()
    {
        var registration = await RegisterAsync();

        var rotated = await Provider.Registry.RotateCredentialAsync(registration.Device.Id, registration.Credential!.Id, cancellationToken: Ct);

        Assert.NotEqual(registration.Credential.Id, rotated.Id);
        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => ConnectAsync(registration));
        var device = await ConnectAsync(registration with { Credential = rotated });
        Assert.True(device.IsConnected);
    }

    [Fact]
    public async Task A_revoked_credential_is_refused_at_connect_while_other_credentials_still_work()
    {
        // Revoke a second credential, not the device's only one: Azure refuses to leave a device without authentication.
        var registration = await RegisterAsync();
        var second = await Provider.Registry.IssueCredentialAsync(registration.Device.Id, Fixture.DeviceCredential, Ct);
        Assert.True((await ConnectAsync(registration with { Credential = second })).IsConnected);

        await Provider.Registry.RevokeCredentialAsync(registration.Device.Id, second.Id, Ct);

        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => ConnectAsync(registration with { Credential = second }));
        Assert.True((await ConnectAsync(registration)).IsConnected);
    }
}

/// <summary>Revoking a credential also ends the connection made with it, not only the next connect.</summary>
public abstract class LiveRevocationContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task Revoking_closes_the_live_connection_made_with_the_credential()
    {
        var registration = await RegisterAsync();
        var second = await Provider.Registry.IssueCredentialAsync(registration.Device.Id, Fixture.DeviceCredential, Ct);
        var live = await ConnectAsync(registration with { Credential = second });
        Assert.True(live.IsConnected);

        await Provider.Registry.RevokeCredentialAsync(registration.Device.Id, second.Id, Ct);

        await EventuallyAsync(() => Task.FromResult(live.IsConnected), connected => !connected, "the revoked credential's live connection to close");
    }
}

/// <summary>A disabled device is refused at connect until it is enabled again.</summary>
public abstract class DisableEnforcementContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task A_disabled_device_is_refused_at_connect_until_enabled()
    {
        var registration = await RegisterAsync();

        await Provider.Registry.DisableAsync(registration.Device.Id, Ct);

        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => ConnectAsync(registration));
        await Provider.Registry.EnableAsync(registration.Device.Id, Ct);
        Assert.True((await ConnectAsync(registration)).IsConnected);
    }
}

/// <summary>Disabling a device also ends its live connection.</summary>
public abstract class LiveDisableContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task Disabling_closes_the_live_connection()
    {
        var registration = await RegisterAsync();
        var live = await ConnectAsync(registration);
        Assert.True(live.IsConnected);

        await Provider.Registry.DisableAsync(registration.Device.Id, Ct);

        await EventuallyAsync(() => Task.FromResult(live.IsConnected), connected => !connected, "the disabled device's live connection to close");
    }
}
