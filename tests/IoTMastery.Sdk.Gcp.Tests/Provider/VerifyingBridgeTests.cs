namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// The provider against the verifying bridge double (the contract suite's GCP peer): revocation ends only the sessions
/// that authenticated with the removed key, and the bridge says why it cut.
/// </summary>
[Collection(PubSubEmulatorCollection.Name)]
public sealed class VerifyingBridgeTests(PubSubEmulator emulator)
{
    private static readonly CredentialRequest PublicKey = new() { Kind = CredentialKind.PublicKey };

    [Fact]
    public async Task Removing_one_key_cuts_the_session_signed_with_it_and_not_one_signed_with_another()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator, bridge: GcpBridgePeer.VerifyingDouble);
        var registry = stack.Provider.Registry;
        var first = (await registry.RegisterAsync(new DeviceRegistration { Id = "dev-keep", Credential = PublicKey })).Credential!;
        var remaining = (await registry.RegisterAsync(new DeviceRegistration { Id = "dev-cut", Credential = PublicKey })).Credential!;
        var second = await registry.IssueCredentialAsync("dev-cut", PublicKey);
        await using var keep = stack.Provider.Devices.Create(new DeviceConnectionOptions { DeviceId = "dev-keep", Credential = first });
        await using var cut = stack.Provider.Devices.Create(new DeviceConnectionOptions { DeviceId = "dev-cut", Credential = second });
        await keep.ConnectAsync();
        await cut.ConnectAsync();

        await registry.RevokeCredentialAsync("dev-cut", second.Id);

        // The registry double awaits the bridge's check before it answers the PATCH, so the cut has happened by now.
        var bridge = stack.Bridge!;
        var reason = Assert.Single(bridge.RevocationCuts);
        Assert.Equal(stack.Options.Registry.Device("dev-cut"), reason.ClientId);
        Assert.Equal("credential removed or device deleted", reason.Reason);
        Assert.True(keep.IsConnected);
        // The device notices the dropped connection on its own schedule; bounded wait.
        var waited = TimeProvider.System.GetTimestamp();
        while (cut.IsConnected && TimeProvider.System.GetElapsedTime(waited) < TimeSpan.FromSeconds(30)) await Task.Delay(50);
        Assert.False(cut.IsConnected);
        // The removed key is refused at connect; the device's remaining key still connects.
        await using var revoked = stack.Provider.Devices.Create(new DeviceConnectionOptions { DeviceId = "dev-cut", Credential = second });
        await Assert.ThrowsAsync<IoTAuthenticationException>(() => revoked.ConnectAsync());
        await using var again = stack.Provider.Devices.Create(new DeviceConnectionOptions { DeviceId = "dev-cut", Credential = remaining });
        await again.ConnectAsync();
        Assert.True(again.IsConnected);
    }
}
