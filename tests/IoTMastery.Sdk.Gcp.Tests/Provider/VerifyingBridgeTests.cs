using IoTMastery.Sdk.TestSupport;
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
        await using var keep = stack.Provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-keep", Credential = first });
        await using var cut = stack.Provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-cut", Credential = second });
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
        await using var revoked = stack.Provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-cut", Credential = second });
        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => revoked.ConnectAsync());
        await using var again = stack.Provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-cut", Credential = remaining });
        await again.ConnectAsync();
        Assert.True(again.IsConnected);
    }
    [Fact]
    public async Task A_late_disconnect_of_the_old_session_leaves_the_reconnected_session_commandable()
    {
        // MQTTnet raises a session's disconnect on its own task, so under load it can reach the bridge after the device
        // reconnected with the same client id (the firmware contract's restart does exactly that). Held here until the new
        // session is connected and subscribed, then let go: the bridge must forget the old session only.
        await using var stack = await GcpProviderStack.StartAsync(emulator, bridge: GcpBridgePeer.VerifyingDouble);
        var credential = (await stack.Provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-again", Credential = PublicKey })).Credential!;
        var bridge = stack.Bridge!;
        var clientId = stack.Options.Registry.Device("dev-again");
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Continuations of release run inline on SetResult, so the bridge has finished its cleanup when SetResult returns.
        var release = new TaskCompletionSource();
        var held = 0;
        bridge.BeforeSessionForgottenForTest = async id =>
        {
            if (id != clientId || Interlocked.Exchange(ref held, 1) != 0) return;
            entered.SetResult();
            await release.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        };

        var old = stack.Provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-again", Credential = credential });
        await old.ConnectAsync();
        await old.DisposeAsync();
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await using var again = stack.Provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-again", Credential = credential });
        again.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, new System.Text.Json.Nodes.JsonObject { ["echo"] = command.Name })));
        await again.ConnectAsync();
        release.SetResult();

        var reply = await stack.Provider.Commands.InvokeAsync("dev-again", new DeviceCommand { Name = "ping", Timeout = TimeSpan.FromSeconds(20) });
        Assert.Equal(200, reply.Status);
        Assert.Equal("ping", (string?)reply.Payload?["echo"]);
    }
}
