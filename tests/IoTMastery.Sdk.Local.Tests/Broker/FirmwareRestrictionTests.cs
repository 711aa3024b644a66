using IoTMastery.Sdk.TestSupport;
using System.Text;
using System.Threading.Channels;
using IoTMastery.Sdk.Providers;
using MQTTnet;
using MQTTnet.Protocol;

namespace IoTMastery.Sdk.Local.Tests;

/// <summary>
/// The minimum-version policy's restrict mode at the wire, against the real embedded broker with a raw MQTT 5 device: what a
/// restricted device may still publish and receive, what it may not, how the restriction lifts, and where it is kept.
/// </summary>
public sealed class FirmwareRestrictionTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = BrokerTestHost.Timeout;
    private const string Minimum = "2.0.0";
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("iotm-restrict-");
    private readonly List<IDisposable> _owned = [];

    private string Database => Path.Combine(_dir.FullName, "fleet.db");

    public ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned)) owned.Dispose();
        _dir.Delete(recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_restricted_device_may_only_report_firmware_and_receive_desired_state_until_it_reports_the_minimum()
    {
        await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = Database });
        var patching = Patching(provider);
        var (client, inbox) = await ConnectRawAsync(provider, "dev-a");
        await client.SubscribeAsync("devices/dev-a/commands/#", MqttQualityOfServiceLevel.AtLeastOnce).WaitAsync(Timeout);
        await client.SubscribeAsync("devices/dev-a/state/desired", MqttQualityOfServiceLevel.AtLeastOnce).WaitAsync(Timeout);
        Assert.Equal(MqttClientPublishReasonCode.Success, (await PublishAsync(client, "devices/dev-a/state/reported", Firmware("1.0.0"))).ReasonCode);

        Assert.Equal(["dev-a"], await patching.RestrictDevicesBelowMinimumAsync(Minimum));

        // Refused with NotAuthorized, the connection kept: telemetry, a command reply, a report that is more than firmware.
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await PublishAsync(client, "devices/dev-a/telemetry", """[{"d":"dev-a","m":"t","v":1,"t":"2026-12-07T00:00:00Z"}]""")).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await PublishAsync(client, "devices/dev-a/replies/r1", """{"status":200}""")).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await PublishAsync(client, "devices/dev-a/state/reported", """{"firmware":{"version":"1.0.0"},"mood":"ok"}""")).ReasonCode);
        // A firmware report below the minimum is stored and keeps the restriction.
        Assert.Equal(MqttClientPublishReasonCode.Success, (await PublishAsync(client, "devices/dev-a/state/reported", Firmware("1.5.0"))).ReasonCode);
        Assert.Equal("2.0.0", (await patching.ListRestrictedDevicesAsync())["dev-a"]);
        Assert.True(client.IsConnected);
        // A subscription is still granted (the SDK's client subscribes before it connects), but nothing but desired state is delivered.
        var granted = await client.SubscribeAsync("devices/dev-a/commands/reboot/+", MqttQualityOfServiceLevel.AtLeastOnce).WaitAsync(Timeout);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, Assert.Single(granted.Items).ResultCode);
        var refused = await Assert.ThrowsAsync<IoTException>(() => provider.Commands.InvokeAsync("dev-a", new DeviceCommand { Name = "reboot" }));
        Assert.Equal("DeviceRestricted", refused.ErrorCode);
        // Sent at the broker regardless: one session's QoS 1 messages arrive in order, so the desired state arriving first
        // (and alone) proves the command was withheld rather than slow.
        await provider.Broker.PublishAsync("devices/dev-a/commands/reboot/c1", "{}"u8.ToArray(), retain: false, CancellationToken.None);
        await provider.State.UpdateDesiredAsync("dev-a", new System.Text.Json.Nodes.JsonObject { ["interval"] = 5 });
        Assert.Equal("devices/dev-a/state/desired", (await inbox.Reader.ReadAsync().AsTask().WaitAsync(Timeout)).Topic);

        // The report of the minimum lifts it before its PUBACK: the next publish is free, and commands flow on the old subscription.
        Assert.Equal(MqttClientPublishReasonCode.Success, (await PublishAsync(client, "devices/dev-a/state/reported", Firmware("2.0.0"))).ReasonCode);
        Assert.Empty(await patching.ListRestrictedDevicesAsync());
        Assert.Equal(MqttClientPublishReasonCode.Success, (await PublishAsync(client, "devices/dev-a/state/reported", """{"mood":"ok"}""")).ReasonCode);
        await provider.Broker.PublishAsync("devices/dev-a/commands/reboot/c2", "{}"u8.ToArray(), retain: false, CancellationToken.None);
        Assert.Equal("devices/dev-a/commands/reboot/c2", (await inbox.Reader.ReadAsync().AsTask().WaitAsync(Timeout)).Topic);
        Assert.False(inbox.Reader.TryRead(out var extra), $"a withheld message arrived late: {extra?.Topic}");
    }

    [Fact]
    public async Task A_restriction_survives_a_restart_and_goes_with_a_deleted_device()
    {
        await using (var first = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = Database }))
        {
            var (client, _) = await ConnectRawAsync(first, "dev-b");
            Assert.Equal(MqttClientPublishReasonCode.Success, (await PublishAsync(client, "devices/dev-b/state/reported", Firmware("1.0.0"))).ReasonCode);
            Assert.Equal(["dev-b"], await Patching(first).RestrictDevicesBelowMinimumAsync(Minimum));
            // Invalid ids are refused before anything is read.
            await Assert.ThrowsAsync<ArgumentException>(() => Patching(first).RestrictDevicesBelowMinimumAsync(Minimum, ["bad/id"]));
        }

        await using var second = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = Database });
        Assert.Equal("2.0.0", (await Patching(second).ListRestrictedDevicesAsync())["dev-b"]);
        var (again, _) = await ConnectRawAsync(second, "dev-b");
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await PublishAsync(again, "devices/dev-b/state/reported", """{"mood":"ok"}""")).ReasonCode);

        await second.Registry.DeleteAsync("dev-b");
        Assert.Empty(await Patching(second).ListRestrictedDevicesAsync());
        var (reborn, _) = await ConnectRawAsync(second, "dev-b");
        Assert.Equal(MqttClientPublishReasonCode.Success, (await PublishAsync(reborn, "devices/dev-b/state/reported", """{"mood":"ok"}""")).ReasonCode);
    }

    [Fact]
    public async Task A_device_whose_stored_report_already_reaches_the_minimum_is_not_restricted()
    {
        // The caller read the device below the minimum, but its report of the fix was stored before the restriction.
        using var store = LocalStore.OpenInMemory();
        await store.WriteAsync(async (c, tx, ct) =>
        {
            await LocalStore.ExecuteAsync(c, tx, "INSERT INTO devices (id, status, attributes, version, created_at) VALUES ('dev-c', 'Enabled', '{}', 1, 0)", ct);
            return await LocalStore.ExecuteAsync(c, tx, "INSERT INTO device_state (device_id, desired, desired_version, reported, reported_version) VALUES ('dev-c', '{}', 0, $reported, 1)", ct,
                ("$reported", Firmware("2.1.0")));
        }, CancellationToken.None);
        using var restrictions = await FirmwareRestrictions.LoadAsync(store, CancellationToken.None);

        Assert.False(await restrictions.RestrictAsync("dev-c", FirmwareVersion.Parse("2.0.0"), CancellationToken.None));
        Assert.False(restrictions.IsRestricted("dev-c"));
        Assert.True(await restrictions.RestrictAsync("dev-c", FirmwareVersion.Parse("3.0.0"), CancellationToken.None));
        Assert.True(restrictions.IsRestricted("dev-c"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => restrictions.RestrictAsync("dev-x", FirmwareVersion.Parse("3.0.0"), CancellationToken.None));
    }

    private SecurityPatching Patching(LocalIoTProvider provider)
    {
        var store = new SqliteFirmwareStore(Database);
        _owned.Add(store);
        return new SecurityPatching(provider, store);
    }

    /// <summary>Registers the device if needed and connects a raw MQTT 5 client with its certificate; messages it receives go to the inbox.</summary>
    private async Task<(IMqttClient Client, Channel<MqttApplicationMessage> Inbox)> ConnectRawAsync(LocalIoTProvider provider, string id)
    {
        IssuedCredential credential;
        try
        {
            credential = (await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 })).Credential!;
        }
        catch (IoTException ex) when (ex.Kind == IoTErrorKind.AlreadyExists)
        {
            // Registered by an earlier provider instance on the same database, which kept the private key to itself.
            credential = await provider.Registry.IssueCredentialAsync(id, CredentialRequest.X509);
        }
        var certificate = credential.ToCertificate();
        var client = new MqttClientFactory().CreateMqttClient();
        _owned.Add(client);
        _owned.Add(certificate);
        var inbox = Channel.CreateUnbounded<MqttApplicationMessage>();
        client.ApplicationMessageReceivedAsync += e =>
        {
            inbox.Writer.TryWrite(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        await client.ConnectAsync(BrokerTestHost.RawOptions(provider.Port, provider.CertificateAuthority, id, certificate)).WaitAsync(Timeout);
        return (client, inbox);
    }

    private static Task<MqttClientPublishResult> PublishAsync(IMqttClient client, string topic, string payload) =>
        client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(Encoding.UTF8.GetBytes(payload))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()).WaitAsync(Timeout);

    private static string Firmware(string version) => $$$"""{"firmware":{"version":"{{{version}}}"}}""";
}
