using IoTMastery.Sdk.TestSupport;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.Local.Tests.Provider;

/// <summary>
/// The composed provider end to end: the real registry decides who the real broker lets in, real device
/// connections carry state, commands and firmware, and a file database survives a restart.
/// </summary>
public sealed class LocalIoTProviderTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private LocalIoTProvider _provider = null!;

    public async Task InitializeAsync() => _provider = await LocalIoTProvider.StartAsync().WaitAsync(Timeout);

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    private async Task<(IDeviceConnection Device, IssuedCredential Credential)> ConnectAsync(string id)
    {
        var registration = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 }).WaitAsync(Timeout);
        var device = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registration.Credential! });
        await device.ConnectAsync().WaitAsync(Timeout);
        return (device, registration.Credential!);
    }

    [Fact]
    public async Task A_revoked_credential_is_disconnected_and_refused_on_reconnect()
    {
        var (device, credential) = await ConnectAsync("dev-revoked");
        await using var _ = device;
        Assert.True(device.IsConnected);

        await _provider.Registry.RevokeCredentialAsync("dev-revoked", credential.Id).WaitAsync(Timeout);

        await using var again = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-revoked", Credential = credential });
        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => again.ConnectAsync().WaitAsync(Timeout));
        var stored = await _provider.Registry.GetAsync("dev-revoked");
        Assert.True(Assert.Single(stored.Credentials).Revoked);
    }

    [Fact]
    public async Task A_rotated_credential_replaces_the_old_one()
    {
        var (device, oldCredential) = await ConnectAsync("dev-rotated");
        await device.DisposeAsync();

        var newCredential = await _provider.Registry.RotateCredentialAsync("dev-rotated", oldCredential.Id).WaitAsync(Timeout);

        await using var withNew = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-rotated", Credential = newCredential });
        await withNew.ConnectAsync().WaitAsync(Timeout);
        await using var withOld = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-rotated", Credential = oldCredential });
        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => withOld.ConnectAsync().WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_disabled_device_cannot_connect_until_enabled()
    {
        var registration = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-disabled", Credential = CredentialRequest.X509 });
        await _provider.Registry.DisableAsync("dev-disabled");

        await using var refused = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-disabled", Credential = registration.Credential! });
        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => refused.ConnectAsync().WaitAsync(Timeout));

        await _provider.Registry.EnableAsync("dev-disabled");
        await using var accepted = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-disabled", Credential = registration.Credential! });
        await accepted.ConnectAsync().WaitAsync(Timeout);
        Assert.True(accepted.IsConnected);
    }

    [Fact]
    public async Task Device_A_cannot_subscribe_to_device_Bs_commands_nor_publish_as_B()
    {
        var (b, _) = await ConnectAsync("dev-b");
        await using var _b = b;
        var registration = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-a", Credential = CredentialRequest.X509 });
        using var certificate = registration.Credential!.ToCertificate();
        await using var a = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = _provider.Port,
            ClientId = "dev-a",
            ClientCertificate = certificate,
            TrustedRoots = [_provider.CertificateAuthority],
        });
        await a.ConnectAsync().WaitAsync(Timeout);

        await IoTAssert.ThrowsAsync(IoTErrorKind.Authorization, () => a.SubscribeAsync("devices/dev-b/commands/#", (_, _) => ValueTask.CompletedTask).WaitAsync(Timeout));
        await Assert.ThrowsAnyAsync<IoTException>(() => a.PublishAsync("devices/dev-b/telemetry", "[]"u8.ToArray(), MqttQualityOfService.AtLeastOnce).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Commands_time_out_when_the_device_never_replies()
    {
        var (device, _) = await ConnectAsync("dev-slow");
        await using var _d = device;
        var never = new TaskCompletionSource<CommandResponse>();
        device.SetCommandHandler(async (_, ct) => await never.Task.WaitAsync(ct));

        var ex = await IoTAssert.ThrowsAsync(IoTErrorKind.CommandTimeout, () =>
            _provider.Commands.InvokeAsync("dev-slow", new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(1) }).WaitAsync(Timeout));
        Assert.Equal("dev-slow", ex.DeviceId);
        never.TrySetCanceled();
    }

    [Fact]
    public async Task Desired_state_reaches_the_device_and_stale_versions_are_refused()
    {
        var (device, _) = await ConnectAsync("dev-state");
        await using var _d = device;
        var seen = new TaskCompletionSource<(JsonObject Desired, long Version)>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.SetDesiredStateHandler((document, version, _) =>
        {
            if (document["interval"] is not null) seen.TrySetResult((document, version));
            return ValueTask.CompletedTask;
        });

        var updated = await _provider.State.UpdateDesiredAsync("dev-state", new JsonObject { ["interval"] = 5 }, expectedVersion: 0);
        var change = await seen.Task.WaitAsync(Timeout);
        Assert.Equal(updated.DesiredVersion, change.Version);
        Assert.Equal(5, (int?)change.Desired["interval"]);

        var conflict = await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () =>
            _provider.State.UpdateDesiredAsync("dev-state", new JsonObject { ["interval"] = 9 }, expectedVersion: 0));
        Assert.Equal(updated.DesiredVersion, conflict.CurrentVersion);

        await device.ReportStateAsync(new JsonObject { ["interval"] = 5 }).WaitAsync(Timeout);
        var state = await _provider.State.GetAsync("dev-state");
        Assert.Equal(5, (int?)state.Reported["interval"]);
    }

    [Fact]
    public async Task A_failing_canary_wave_stops_the_rollout_and_rolls_the_device_back()
    {
        var dir = Directory.CreateTempSubdirectory("iotm-fw-");
        try
        {
            var good = await CreateReleaseAsync(dir, "1.0.0");
            var bad = await CreateReleaseAsync(dir, "2.0.0");
            var devices = new List<(IDeviceConnection Connection, FirmwareUpdateAgent Agent)>();
            foreach (var id in new[] { "fw-1", "fw-2", "fw-3", "fw-4" })
            {
                var (connection, _) = await ConnectAsync(id);
                var agent = new FirmwareUpdateAgent(connection, good.Version,
                    (release, _, _) => ValueTask.FromResult(release.Version != bad.Version));
                connection.SetDesiredStateHandler(agent.HandleDesiredStateAsync);
                await agent.ReportRunningVersionAsync().WaitAsync(Timeout);
                devices.Add((connection, agent));
            }

            var rollout = (await _provider.Firmware.StartRolloutAsync(new RolloutPlan
            {
                ReleaseVersion = bad.Version,
                DeviceIds = ["fw-1", "fw-2", "fw-3", "fw-4"],
                WaveSizes = [1, 3],
                FailureThreshold = 0.5,
            })).Value;
            var deadline = DateTime.UtcNow + Timeout;
            while (rollout.Status == RolloutStatus.InProgress && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
                rollout = await _provider.Firmware.GetRolloutAsync(rollout.Id);
            }

            Assert.Equal(RolloutStatus.Stopped, rollout.Status);
            var canary = Assert.Single(rollout.Devices, d => d.Wave == 0);
            Assert.Equal(DeviceRolloutStatus.RolledBack, canary.Status);
            Assert.All(rollout.Devices.Where(d => d.Wave == 1), d => Assert.Equal(DeviceRolloutStatus.Skipped, d.Status));
            // The rolled-back canary reinstalls 1.0.0; the second wave never saw 2.0.0.
            Assert.All(devices, d => Assert.Equal(good.Version, d.Agent.RunningVersion));
            foreach (var (connection, _) in devices) await connection.DisposeAsync();
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Bad_input_is_rejected_before_any_io()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "bad/id" }));
        await Assert.ThrowsAsync<ArgumentException>(() => _provider.Commands.InvokeAsync("dev+1", new DeviceCommand { Name = "reboot" }));
        await Assert.ThrowsAsync<ArgumentException>(() => _provider.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "re boot" }));
        await Assert.ThrowsAsync<ArgumentException>(() => _provider.State.UpdateDesiredAsync("dev-1", new JsonObject { ["blob"] = new string('x', 40_000) }));
        Assert.Throws<ArgumentException>(() => new TelemetryRecord("dev-1", "temperature", double.NaN, DateTimeOffset.UnixEpoch));
        Assert.Throws<ArgumentException>(() => new TelemetryRecord("dev-1", "temperature", double.PositiveInfinity, DateTimeOffset.UnixEpoch));
        await Assert.ThrowsAsync<NotSupportedException>(() => _provider.Registry.RegisterAsync(
            new DeviceRegistration { Id = "dev-sym", Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } }));
        Assert.DoesNotContain(CredentialKind.SymmetricKey, _provider.Capabilities.CredentialKinds);
    }

    private async Task<FirmwareRelease> CreateReleaseAsync(DirectoryInfo dir, string version)
    {
        var image = RandomNumberGenerator.GetBytes(4096);
        var path = Path.Combine(dir.FullName, version + ".bin");
        await File.WriteAllBytesAsync(path, image);
        return await _provider.Firmware.CreateReleaseAsync(new FirmwareRelease
        {
            Version = version,
            Uri = new Uri(path),
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(image)),
            SizeBytes = image.Length,
        });
    }
}

/// <summary>A file database keeps devices, their certificates' CA and desired state across a restart.</summary>
public sealed class LocalIoTProviderRestartTests
{
    [Fact]
    public async Task A_device_reconnects_with_its_old_certificate_after_a_restart_and_gets_its_desired_state()
    {
        var dir = Directory.CreateTempSubdirectory("iotm-db-");
        try
        {
            var options = new LocalIoTOptions { DatabasePath = Path.Combine(dir.FullName, "fleet.db") };
            IssuedCredential credential;
            await using (var first = await LocalIoTProvider.StartAsync(options))
            {
                credential = (await first.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-keep", Credential = CredentialRequest.X509 })).Credential!;
                await first.State.UpdateDesiredAsync("dev-keep", new JsonObject { ["mode"] = "eco" });
            }

            await using var second = await LocalIoTProvider.StartAsync(options);
            await using var device = second.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-keep", Credential = credential });
            var desired = new TaskCompletionSource<(JsonObject Desired, long Version)>(TaskCreationOptions.RunContinuationsAsynchronously);
            device.SetDesiredStateHandler((document, version, _) => { desired.TrySetResult((document, version)); return ValueTask.CompletedTask; });
            await device.ConnectAsync().WaitAsync(TimeSpan.FromSeconds(20));

            var change = await desired.Task.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal("eco", (string?)change.Desired["mode"]);
            Assert.Equal(1, change.Version);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            dir.Delete(recursive: true);
        }
    }
}
