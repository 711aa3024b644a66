using IoTMastery.Sdk.TestSupport;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>The neutral API of the GCP-style provider over the Pub/Sub emulator, the registry double and Mosquitto.</summary>
[Collection(PubSubEmulatorCollection.Name)]
public sealed class GcpIoTProviderTests(PubSubEmulator emulator)
{
    private static readonly CredentialRequest PublicKey = new() { Kind = CredentialKind.PublicKey };
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Registry_registers_with_a_generated_public_key_lists_pages_blocks_and_deletes()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator);
        var registry = stack.Provider.Registry;
        var result = await registry.RegisterAsync(new DeviceRegistration { Id = "dev-a", Attributes = new Dictionary<string, string> { ["site"] = "north" }, Credential = PublicKey });
        var credential = Assert.IsType<IssuedCredential>(result.Credential);
        Assert.Equal(CredentialKind.PublicKey, credential.Info.Kind);
        Assert.Contains("PRIVATE KEY", credential.PrivateKeyPem);
        Assert.Contains("PUBLIC KEY", credential.PublicKeyPem);
        Assert.Equal(credential.Id, Assert.Single(result.Device.Credentials).Id);
        Assert.Equal("north", result.Device.Attributes["site"]);
        // The registry holds the public half only.
        Assert.Equal(credential.PublicKeyPem, Assert.Single(stack.Registry.PublicKeys("dev-a")).Key);
        await registry.RegisterAsync(new DeviceRegistration { Id = "dev-b" });
        await registry.RegisterAsync(new DeviceRegistration { Id = "dev-c", Attributes = new Dictionary<string, string> { ["site"] = "south" } });
        await IoTAssert.ThrowsAsync(IoTErrorKind.AlreadyExists, () => registry.RegisterAsync(new DeviceRegistration { Id = "dev-b" }));

        var first = await registry.ListAsync(new DeviceQuery { PageSize = 2 }).AsPages().FirstAsync();
        Assert.Equal(["dev-a", "dev-b"], first.Items.Select(d => d.Id));
        Assert.NotNull(first.ContinuationToken);
        var second = await registry.ListAsync(new DeviceQuery { PageSize = 2 }).AsPages(first.ContinuationToken).FirstAsync();
        Assert.Equal("dev-c", Assert.Single(second.Items).Id);
        Assert.Null(second.ContinuationToken);
        Assert.Equal(["dev-a", "dev-c"], await registry.ListAsync(new DeviceQuery { PageSize = 1, AttributeName = "site" }).Select(d => d.Id).ToListAsync());

        var updated = await registry.UpdateAsync("dev-a", new Dictionary<string, string?> { ["site"] = null, ["floor"] = "3" });
        Assert.Equal(new Dictionary<string, string> { ["floor"] = "3" }, updated.Attributes);
        Assert.False((await registry.DisableAsync("dev-b")).Enabled);
        Assert.True(stack.Registry.IsBlocked("dev-b"));
        Assert.Equal(["dev-b"], await registry.ListAsync(new DeviceQuery { Enabled = false }).Select(d => d.Id).ToListAsync());

        await registry.DeleteAsync("dev-c");
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => registry.GetAsync("dev-c"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => registry.DeleteAsync("dev-c"));
    }

    [Fact]
    public async Task Credentials_are_issued_within_the_three_key_limit_rotated_at_the_limit_and_revoked()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator);
        var registry = stack.Provider.Registry;
        var first = (await registry.RegisterAsync(new DeviceRegistration { Id = "dev-keys", Credential = PublicKey })).Credential!;
        var second = await registry.IssueCredentialAsync("dev-keys", PublicKey with { Algorithm = KeyAlgorithm.Rsa2048 });
        var third = await registry.IssueCredentialAsync("dev-keys", PublicKey);
        Assert.Contains("RSA_PEM", stack.Registry.PublicKeys("dev-keys").Select(k => k.Format));
        await IoTAssert.ThrowsAsync(IoTErrorKind.QuotaExceeded, () => registry.IssueCredentialAsync("dev-keys", PublicKey));

        var rotated = await registry.RotateCredentialAsync("dev-keys", first.Id);
        var ids = (await registry.GetAsync("dev-keys")).Credentials.Select(c => c.Id).ToHashSet();
        Assert.Equal(new HashSet<string> { second.Id, third.Id, rotated.Id }, ids);

        await registry.RevokeCredentialAsync("dev-keys", second.Id);
        Assert.Equal(2, (await registry.GetAsync("dev-keys")).Credentials.Count);
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => registry.RevokeCredentialAsync("dev-keys", second.Id));
    }

    [Fact]
    public async Task Bad_input_is_rejected_before_any_request_and_capabilities_tell_the_truth()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator);
        var iot = stack.Provider;
        Assert.Equal("Gcp", iot.Name);
        Assert.Equal(new HashSet<CredentialKind> { CredentialKind.PublicKey }, iot.Capabilities.CredentialKinds);
        Assert.True(iot.Capabilities.Commands && iot.Capabilities.DeviceState && iot.Capabilities.TelemetryConsumption && iot.Capabilities.FirmwareRollouts);
        var before = stack.Registry.Server.Requests.Count;

        await Assert.ThrowsAsync<NotSupportedException>(() => iot.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-x509", Credential = CredentialRequest.X509 }));
        await Assert.ThrowsAsync<NotSupportedException>(() => iot.Registry.IssueCredentialAsync("dev-x509", new CredentialRequest { Kind = CredentialKind.SymmetricKey }));
        await Assert.ThrowsAsync<ArgumentException>(() => iot.Registry.RegisterAsync(new DeviceRegistration { Id = "1-starts-with-digit" }));
        await Assert.ThrowsAsync<ArgumentException>(() => iot.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-ok", Attributes = new Dictionary<string, string> { ["bad key"] = "v" } }));
        await Assert.ThrowsAsync<ArgumentException>(() => iot.Registry.GetAsync("a/b"));
        Assert.Throws<ArgumentOutOfRangeException>(() => iot.Registry.ListAsync(new DeviceQuery { PageSize = 0 }));
        await Assert.ThrowsAsync<NotSupportedException>(() => iot.Registry.UpdateAsync("dev-ok", new Dictionary<string, string?>(), expectedVersion: 3));
        await Assert.ThrowsAsync<ArgumentException>(() => iot.State.UpdateDesiredAsync("dev-ok", new JsonObject { ["$version"] = 9 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => iot.State.UpdateDesiredAsync("dev-ok", new JsonObject(), expectedVersion: 0));
        await Assert.ThrowsAsync<ArgumentException>(() => iot.Commands.InvokeAsync("dev-ok", new DeviceCommand { Name = "bad name" }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => iot.Commands.InvokeAsync("dev-ok", new DeviceCommand { Name = "ok", Timeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentException>(() => iot.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "x", Credential = new IssuedCredential(new CredentialInfo { Id = "c" }) }));
        Assert.Throws<ArgumentException>(() => iot.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-ok", Credential = new IssuedCredential(new CredentialInfo { Id = "c" }, publicKeyPem: "k") }));
        Assert.Equal(before, stack.Registry.Server.Requests.Count);

        Assert.Throws<ArgumentException>(() => new GcpIoTOptions { ProjectId = "p", RegistryId = "r" }.Validate());
        Assert.Throws<ArgumentException>(() => new GcpIoTOptions { ProjectId = "my-project", RegistryId = "reg", DeviceTelemetryToPubSub = true }.Validate());
    }

    [Fact]
    public async Task Without_a_reply_subscription_commands_are_reported_unavailable_and_refused()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator, withReplies: false);
        Assert.False(stack.Provider.Capabilities.Commands);
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => stack.Provider.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "reboot" }));
        Assert.Contains("CommandReplySubscriptionId", e.Message);
    }

    [Fact]
    public async Task A_connected_device_streams_telemetry_answers_commands_receives_desired_state_and_reports_state()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator);
        var iot = stack.Provider;
        var credential = (await iot.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-live", Credential = PublicKey })).Credential!;
        await using var device = iot.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-live", Credential = credential });
        var desired = new List<(JsonObject Desired, long Version)>();
        var desiredSeen = new SemaphoreSlim(0);
        device.SetCommandHandler((c, _) => ValueTask.FromResult(new CommandResponse(c.Name == "reboot" ? 200 : 400, new JsonObject { ["did"] = c.Name, ["arg"] = c.Payload?.DeepClone() })));
        device.SetDesiredStateHandler((document, version, _) => { lock (desired) desired.Add((document, version)); desiredSeen.Release(); return default; });
        await device.ConnectAsync();
        Assert.True(device.IsConnected);
        // The bridge client id is the device path and the password a JWT: mosquitto logged the connect.
        Assert.Contains($"as {stack.Options.Registry.Device("dev-live")} ", stack.Broker.ReadLog());

        // Telemetry: pipeline → bridge events → relay → Pub/Sub → channel.
        for (var i = 0; i < 10; i++) await device.SendTelemetryAsync(new TelemetryRecord("dev-live", "temperature", 20 + i, DateTimeOffset.UtcNow));
        await device.FlushAsync();
        var got = new List<TelemetryRecord>();
        using (var cts = new CancellationTokenSource(Bound))
            await foreach (var r in iot.Telemetry.ReadAllAsync(cts.Token))
            {
                got.Add(r);
                if (got.Count == 10) break;
            }
        Assert.Equal(Enumerable.Range(20, 10).Select(v => (double)v), got.Select(r => r.Value));
        await Assert.ThrowsAsync<ArgumentException>(async () => await device.SendTelemetryAsync(new TelemetryRecord("other-dev", "t", 1, DateTimeOffset.UtcNow)));

        // Commands with replies through the reply subfolder.
        var reply = await iot.Commands.InvokeAsync("dev-live", new DeviceCommand { Name = "reboot", Payload = new JsonObject { ["delay"] = 5 }, Timeout = TimeSpan.FromSeconds(15) });
        Assert.Equal(200, reply.Status);
        Assert.Equal("reboot", reply.Payload!["did"]!.GetValue<string>());
        Assert.Equal(5, reply.Payload!["arg"]!["delay"]!.GetValue<int>());
        Assert.Equal("reboot", stack.Registry.LastCommand!.Value.Subfolder);
        Assert.Equal(400, (await iot.Commands.InvokeAsync("dev-live", new DeviceCommand { Name = "dance", Timeout = TimeSpan.FromSeconds(15) })).Status);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => iot.Commands.InvokeAsync("dev-missing", new DeviceCommand { Name = "reboot" }));

        // Desired state: versioned configs, the device sees the document and its version.
        var state = await iot.State.UpdateDesiredAsync("dev-live", new JsonObject { ["fan"] = 2, ["mode"] = "eco" });
        Assert.Equal(2, state.DesiredVersion);
        state = await iot.State.UpdateDesiredAsync("dev-live", new JsonObject { ["mode"] = null }, expectedVersion: 2);
        Assert.Equal(3, state.DesiredVersion);
        Assert.Equal("{\"fan\":2}", state.Desired.ToJsonString());
        var stale = await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () => iot.State.UpdateDesiredAsync("dev-live", new JsonObject { ["fan"] = 9 }, expectedVersion: 2));
        Assert.Equal(3, stale.CurrentVersion);
        await WaitUntil(() => { lock (desired) return desired.Any(d => d.Version == 3); });
        lock (desired)
        {
            var last = desired[^1];
            Assert.Equal(3, last.Version);
            Assert.Equal("{\"fan\":2}", last.Desired.ToJsonString());
            Assert.True(desired.Zip(desired.Skip(1)).All(p => p.First.Version < p.Second.Version));
        }

        // Reported state: merged on the device, stored whole by the registry.
        await device.ReportStateAsync(new JsonObject { ["fan"] = 2, ["uptime"] = 10 });
        await device.ReportStateAsync(new JsonObject { ["uptime"] = 11 });
        await WaitUntil(async () => (await iot.State.GetAsync("dev-live")).Reported["uptime"]?.GetValue<int>() == 11);
        var read = await iot.State.GetAsync("dev-live");
        Assert.Equal("{\"fan\":2,\"uptime\":11}", read.Reported.ToJsonString());
        Assert.True(read.ReportedVersion > 0);
        Assert.False(read.Desired.ContainsKey("$version"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => iot.State.GetAsync("dev-missing"));
    }

    [Fact]
    public async Task Commands_time_out_when_no_reply_comes_and_an_unhandled_command_is_answered_501()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator);
        var iot = stack.Provider;
        await iot.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-silent" });
        var timeout = await IoTAssert.ThrowsAsync(IoTErrorKind.CommandTimeout, () => iot.Commands.InvokeAsync("dev-silent", new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(1) }));
        Assert.Equal("Gcp", timeout.Provider);

        var credential = (await iot.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-nohandler", Credential = PublicKey })).Credential!;
        await using var device = iot.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-nohandler", Credential = credential });
        await device.ConnectAsync();
        Assert.Equal(501, (await iot.Commands.InvokeAsync("dev-nohandler", new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(15) })).Status);
    }

    [Fact]
    public async Task Pub_sub_direct_telemetry_reaches_the_channel_and_a_firmware_rollout_completes_through_configs_and_states()
    {
        await using var stack = await GcpProviderStack.StartAsync(emulator, telemetryToPubSub: true);
        var iot = stack.Provider;
        var credential = (await iot.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-fw", Credential = PublicKey })).Credential!;
        await using var device = iot.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-fw", Credential = credential });
        device.SetDesiredStateHandler(async (document, _, ct) =>
        {
            if (!document.ContainsKey(FirmwareStateContract.PropertyName)) return;
            var offer = FirmwareStateContract.ParseDesired(document[FirmwareStateContract.PropertyName]);
            var version = offer.Release.Version;
            await device.ReportStateAsync(new JsonObject { [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildReported(new ReportedFirmware { Version = version, TargetVersion = version, Status = FirmwareUpdateStatus.Succeeded, RolloutId = offer.RolloutId }) }, ct);
        });
        await device.ConnectAsync();
        await device.ReportStateAsync(new JsonObject { [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildReported(new ReportedFirmware { Version = "1.0.0" }) });

        await device.SendTelemetryAsync(new TelemetryRecord("dev-fw", "rpm", 1200, DateTimeOffset.UtcNow));
        await device.FlushAsync();
        using (var cts = new CancellationTokenSource(Bound))
            await foreach (var r in iot.Telemetry.ReadAllAsync(cts.Token)) { Assert.Equal(1200, r.Value); break; }

        await iot.Firmware.CreateReleaseAsync(new FirmwareRelease { Version = "2.0.0", Uri = new Uri("https://firmware.example/2.bin"), Sha256 = new string('b', 64), SizeBytes = 1 });
        await WaitUntil(async () => (await iot.State.GetAsync("dev-fw")).ReportedVersion > 0);
        var rollout = (await iot.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["dev-fw"] })).Value;
        await WaitUntil(async () => (rollout = await iot.Firmware.GetRolloutAsync(rollout.Id)).Status != RolloutStatus.InProgress);
        Assert.Equal(RolloutStatus.Completed, rollout.Status);
    }

    [Fact]
    public async Task Secrets_stay_out_of_ToString_and_AddGcpIoT_registers_every_neutral_interface()
    {
        const string token = "vendor-secret-token-123";
        var options = new GcpIoTOptions
        {
            // https: a bearer token is never sent over http (refused at start); nothing here calls these roots.
            ProjectId = "my-project", RegistryId = "reg-1", Transport = { DeviceHost = "localhost" }, CloudIotBaseUrl = new Uri("https://127.0.0.1:1/"), PubSubBaseUrl = new Uri("https://127.0.0.1:1/"),
            AccessTokenProvider = _ => ValueTask.FromResult(token),
        };
        Assert.DoesNotContain(token, options.ToString());
        Assert.Contains("redacted", options.ToString());
        Assert.Contains("Credentials = AccessToken", options.ToString());

        await using var provider = await GcpIoTProvider.StartAsync(options);
        var (publicPem, privatePem, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var issued = new IssuedCredential(new CredentialInfo { Id = DeviceKeys.Fingerprint(publicPem), Kind = CredentialKind.PublicKey }, privateKeyPem: privatePem, publicKeyPem: publicPem);
        Assert.DoesNotContain("PRIVATE", issued.ToString());
        await using var connection = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-1", Credential = issued });
        Assert.DoesNotContain("PRIVATE", connection.ToString());
        Assert.DoesNotContain(privatePem[30..60], connection.ToString());

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddGcpIoT(o =>
        {
            o.ProjectId = "my-project"; o.RegistryId = "reg-1";
            o.CloudIotBaseUrl = new Uri("http://127.0.0.1:1/"); o.PubSubBaseUrl = new Uri("http://127.0.0.1:1/");
        });
        using (var host = builder.Build())
        {
            using var timeout = new CancellationTokenSource(Bound);
            await host.StartAsync(timeout.Token);
            var sp = host.Services;
            Assert.IsType<GcpIoTProvider>(sp.GetRequiredService<IIoTProvider>());
            Assert.Same(sp.GetRequiredService<IIoTProvider>().Registry, sp.GetRequiredService<IDeviceRegistry>());
            Assert.NotNull(sp.GetRequiredService<IDeviceStateService>());
            Assert.NotNull(sp.GetRequiredService<IDeviceCommandService>());
            Assert.NotNull(sp.GetRequiredService<ITelemetryChannel>());
            Assert.NotNull(sp.GetRequiredService<IFirmwareService>());
            Assert.Same(sp.GetRequiredKeyedService<IIoTProvider>("Gcp"), sp.GetRequiredService<IIoTProvider>());
            await host.StopAsync(timeout.Token);
        }
        var bad = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        bad.Services.AddGcpIoT(o => o.ProjectId = "bad project");
        using (var host = bad.Build())
        {
            using var timeout = new CancellationTokenSource(Bound);
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(timeout.Token));
            Assert.Contains("IoT provider 'Gcp': GcpIoTOptions.ProjectId is invalid", error.Message);
        }
    }

    private static Task WaitUntil(Func<bool> condition) => WaitUntil(() => Task.FromResult(condition()));

    private static async Task WaitUntil(Func<Task<bool>> condition)
    {
        using var deadline = new CancellationTokenSource(Bound);
        while (!await condition()) await Task.Delay(50, deadline.Token);
    }
}
