using System.Text;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// GCP-style presence from the times the verifying bridge double stamps on the device resource, with a real MQTT device
/// client (the SDK's <see cref="GcpBridgeClient"/> over MQTTnet) whose keep-alive is short: an idle client's PINGREQ becomes
/// <c>lastHeartbeatTime</c>, a telemetry event <c>lastEventTime</c>, a config's PUBACK <c>lastConfigAckTime</c>, a publish to a topic the bridge refuses
/// <c>lastErrorTime</c>/<c>lastErrorStatus</c>; and connectivity derived by the keep-alive rule when the fleet keep-alive is set.
/// </summary>
[Collection(PubSubEmulatorCollection.Name)]
public sealed class PresenceFromBridgeTests(PubSubEmulator emulator)
{
    private static readonly CredentialRequest PublicKey = new() { Kind = CredentialKind.PublicKey };
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Heartbeat_event_and_refused_publish_are_stamped_by_the_bridge_and_read_back_as_presence()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator, bridge: GcpBridgePeer.VerifyingDouble, configure: o => o.PresenceKeepAlive = KeepAlive);
        var registry = stack.Provider.Registry;
        var credential = (await stack.Provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-hb", Credential = PublicKey })).Credential!;
        var window = KeepAlive * 1.5;
        Assert.True(stack.Provider.Capabilities.PresenceConnectionState);
        Assert.Equal(window, stack.Provider.Capabilities.PresenceStaleness);
        var never = await registry.GetPresenceAsync("dev-hb");
        Assert.Equal((false, (DateTimeOffset?)null, (DateTimeOffset?)null, window), (never.Connected, never.LastActivity, never.Since, never.MaxStaleness));

        var device = new GcpBridgeClient(new GcpBridgeOptions
        {
            Host = stack.Options.Transport.DeviceHost!,
            Port = stack.Options.Transport.DevicePort,
            TrustedRoots = stack.Options.Transport.TrustedRoots,
            Registry = stack.Options.Registry,
            DeviceId = "dev-hb",
            PrivateKeyPem = credential.PrivateKeyPem!,
            KeepAlive = KeepAlive,
        });
        await device.ConnectAsync();

        // Nothing published: only the client's keep-alive PINGREQ can make the device heard from.
        var pinged = await EventuallyAsync(() => registry.GetPresenceAsync("dev-hb"), p => p.LastActivity is not null, "a heartbeat");
        Assert.True(pinged.Connected);
        Assert.Null(pinged.Since);
        var stamped = await stack.Provider.CloudIot.GetDeviceAsync("dev-hb", "last_heartbeat_time,last_event_time");
        Assert.NotNull(stamped["lastHeartbeatTime"]);
        Assert.Null(stamped["lastEventTime"]);

        await device.PublishEventAsync(Encoding.UTF8.GetBytes("""[{"d":"dev-hb","m":"t","v":1,"t":1}]"""));
        var evented = await stack.Provider.CloudIot.GetDeviceAsync("dev-hb", "last_event_time");
        Assert.NotNull(evented["lastEventTime"]);
        Assert.True((await registry.GetPresenceAsync("dev-hb")).LastActivity >= DateTimeOffset.Parse(evented["lastEventTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));

        // A config the device takes (its PUBACK) is lastConfigAckTime.
        await stack.Provider.State.UpdateDesiredAsync("dev-hb", new System.Text.Json.Nodes.JsonObject { ["fw"] = "1.0.0" });
        var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await device.SubscribeConfigAsync((_, _) => { delivered.TrySetResult(); return ValueTask.CompletedTask; });
        await delivered.Task.WaitAsync(Bound);
        var acked = await EventuallyAsync(() => stack.Provider.CloudIot.GetDeviceAsync("dev-hb", "last_config_ack_time"), d => d["lastConfigAckTime"] is not null, "the config ack time");
        Assert.True((await registry.GetPresenceAsync("dev-hb")).LastActivity >= DateTimeOffset.Parse(acked["lastConfigAckTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));

        // A topic the bridge does not accept from a device: refused and recorded as the device's last error.
        Assert.Null((await registry.GetPresenceAsync("dev-hb")).LastErrorTime);
        await device.Mqtt.PublishAsync("/devices/dev-hb/not-a-device-topic", "{}"u8.ToArray());
        var failed = await EventuallyAsync(() => registry.GetPresenceAsync("dev-hb"), p => p.LastErrorTime is not null, "the last error");
        Assert.Contains("not-a-device-topic", failed.LastError, StringComparison.Ordinal);

        // Gone: silent for longer than the window, the device reads disconnected since its last activity plus the window.
        await device.DisposeAsync();
        var gone = await EventuallyAsync(() => registry.GetPresenceAsync("dev-hb"), p => p.Connected == false, "disconnected after the window");
        Assert.Equal(gone.LastActivity + window, gone.Since);
        var row = (await registry.ListPresenceAsync().ToListAsync()).Single(p => p.DeviceId == "dev-hb");
        Assert.Equal((false, gone.LastActivity, gone.LastErrorTime), (row.Connected, row.LastActivity, row.LastErrorTime));
    }

    [Fact]
    public async Task Without_a_fleet_keep_alive_connectivity_stays_unknown_and_a_bad_keep_alive_is_refused()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator, bridge: GcpBridgePeer.VerifyingDouble);
        await stack.Provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-unknown", Credential = PublicKey });
        var presence = await stack.Provider.Registry.GetPresenceAsync("dev-unknown");
        Assert.Null(presence.Connected);
        Assert.Null(presence.MaxStaleness);
        Assert.False(stack.Provider.Capabilities.PresenceConnectionState);

        var options = new GcpIoTOptions { ProjectId = "p-1234", RegistryId = "registry-1", PresenceKeepAlive = TimeSpan.FromMilliseconds(10) };
        Assert.Equal(nameof(GcpIoTOptions.PresenceKeepAlive), Assert.Throws<ArgumentOutOfRangeException>(options.Validate).ParamName);
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            if (TimeProvider.System.GetElapsedTime(started) > Bound) throw new TimeoutException($"Not within {Bound.TotalSeconds} s: {what}.");
            await Task.Delay(100);
        }
    }
}
