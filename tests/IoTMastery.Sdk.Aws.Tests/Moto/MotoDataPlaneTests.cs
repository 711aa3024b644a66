using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Aws.Tests.Moto;

/// <summary>Shadows, publish and firmware (the shared engine over the classic shadow) against moto, fleet side.</summary>
[Collection(MotoCollection.Name)]
public sealed class MotoDataPlaneTests(MotoServer moto) : IAsyncLifetime
{
    private readonly TempFirmwareStore _firmwareStore = new();
    private AwsIoTProvider _provider = null!;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync();
        _provider = await AwsIoTProvider.StartAsync(moto.Options(o => o.FirmwareStorePath = _firmwareStore.Path));
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-001" });
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-002" });
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        _firmwareStore.Dispose();
    }

    [Fact]
    public async Task Desired_state_merges_and_versions()
    {
        var empty = await _provider.State.GetAsync("dev-001");
        Assert.Empty(empty.Desired);
        var first = await _provider.State.UpdateDesiredAsync("dev-001", new JsonObject { ["led"] = "on", ["rate"] = 5 });
        var second = await _provider.State.UpdateDesiredAsync("dev-001", new JsonObject { ["rate"] = null, ["mode"] = "eco" }, first.DesiredVersion);
        Assert.Equal("on", (string?)second.Desired["led"]);
        Assert.Equal("eco", (string?)second.Desired["mode"]);
        Assert.False(second.Desired.ContainsKey("rate"));
        Assert.Equal(first.DesiredVersion + 1, second.DesiredVersion);
    }

    [Fact]
    public async Task A_stale_version_is_precondition_failed_with_the_current_version()
    {
        var state = await _provider.State.UpdateDesiredAsync("dev-001", new JsonObject { ["led"] = "on" });
        await _provider.State.UpdateDesiredAsync("dev-001", new JsonObject { ["led"] = "off" });
        var ex = await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () =>
            _provider.State.UpdateDesiredAsync("dev-001", new JsonObject { ["led"] = "blink" }, state.DesiredVersion));
        Assert.Equal("ConflictException", ex.ErrorCode);
        Assert.Equal(state.DesiredVersion + 1, ex.CurrentVersion);
    }

    [Fact]
    public async Task State_of_an_unknown_device_is_device_not_found()
    {
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => _provider.State.GetAsync("ghost"));
    }

    [Fact]
    public async Task Named_shadows_are_separate_from_the_classic_one()
    {
        await _provider.Shadows.UpdateAsync("dev-001", new JsonObject { ["state"] = new JsonObject { ["reported"] = new JsonObject { ["t"] = 1 } } }, "config");
        var named = await _provider.Shadows.GetAsync("dev-001", "config");
        Assert.Equal(1, (int?)named["state"]?["reported"]?["t"]);
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => _provider.Shadows.GetAsync("dev-001"));
        var deleted = await _provider.Shadows.DeleteAsync("dev-001", "config");
        Assert.NotNull(deleted["version"]);
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => _provider.Shadows.GetAsync("dev-001", "config"));
        await Assert.ThrowsAsync<ArgumentException>(() => _provider.Shadows.GetAsync("dev-001", "bad name"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.PayloadTooLarge, () => _provider.Shadows.UpdateAsync("dev-001",
            new JsonObject { ["state"] = new JsonObject { ["reported"] = new JsonObject { ["blob"] = new string('x', 9000) } } }));
    }

    [Fact]
    public async Task Publish_over_http_is_accepted_for_awkward_topics()
    {
        await _provider.PublishAsync("fleet/dev 001/$telemetry", Encoding.UTF8.GetBytes("{\"t\":1}"), qos: 1);
        await _provider.PublishAsync("retained/config", Encoding.UTF8.GetBytes("{}"), qos: 0, retain: true);
    }

    [Fact]
    public async Task Releases_are_kept_in_the_firmware_store_and_a_replay_is_not_a_conflict()
    {
        var release = Release("1.2.0+build.7");
        await _provider.Firmware.CreateReleaseAsync(release);
        var again = await _provider.Firmware.CreateReleaseAsync(release);
        Assert.Equal(release.Sha256, again.Sha256);
        await IoTAssert.ThrowsAsync(IoTErrorKind.AlreadyExists, () => _provider.Firmware.CreateReleaseAsync(release with { Sha256 = new string('b', 64) }));
        await _provider.DisposeAsync();

        // A new managing process on the same store sees the release.
        _provider = await AwsIoTProvider.StartAsync(moto.Options(o => o.FirmwareStorePath = _firmwareStore.Path));
        var loaded = await _provider.Firmware.GetReleaseAsync("1.2.0+build.7");
        Assert.Equal(release.Uri, loaded.Uri);
        Assert.Equal(release.SizeBytes, loaded.SizeBytes);
        var listed = new List<FirmwareRelease>();
        await foreach (var r in _provider.Firmware.ListReleasesAsync()) listed.Add(r);
        Assert.Equal("1.2.0+build.7", Assert.Single(listed).Version);
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => _provider.Firmware.GetReleaseAsync("9.9.9"));
    }

    [Fact]
    public async Task A_rollout_gates_waves_on_the_success_threshold_rolls_a_failed_device_back_and_resumes_in_a_new_process()
    {
        await _provider.Firmware.CreateReleaseAsync(Release("1.0.0"));
        await _provider.Firmware.CreateReleaseAsync(Release("2.0.0"));
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-003" });
        foreach (var id in new[] { "dev-001", "dev-002", "dev-003" })
            await ReportAsync(id, new ReportedFirmware { Version = "1.0.0" });
        var rollout = (await _provider.Firmware.StartRolloutAsync(new RolloutPlan
        {
            ReleaseVersion = "2.0.0", DeviceIds = ["dev-001", "dev-002", "dev-003"], WaveSizes = [1, 2], SuccessThreshold = 1.0, FailureThreshold = 1.0,
        })).Value;

        // Wave 0 is offered through the classic shadow's desired.firmware; wave 1 waits for wave 0's success.
        var offered = await DesiredFirmwareAsync("dev-001");
        Assert.Equal(("2.0.0", rollout.Id), (offered!.Release.Version, offered.RolloutId));
        Assert.Null(await DesiredFirmwareAsync("dev-002"));
        Assert.Equal(RolloutStatus.InProgress, (await _provider.Firmware.GetRolloutAsync(rollout.Id)).Status);
        Assert.Null(await DesiredFirmwareAsync("dev-002"));

        await ReportAsync("dev-001", new ReportedFirmware { Version = "2.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Succeeded, RolloutId = rollout.Id });
        // The managing process goes away; a new one on the same store picks the rollout up.
        await _provider.DisposeAsync();
        _provider = await AwsIoTProvider.StartAsync(moto.Options(o => o.FirmwareStorePath = _firmwareStore.Path));
        var advanced = await _provider.Firmware.GetRolloutAsync(rollout.Id);
        Assert.Equal(1, advanced.CurrentWave);
        Assert.Equal("2.0.0", (await DesiredFirmwareAsync("dev-002"))!.Release.Version);

        await ReportAsync("dev-002", new ReportedFirmware { Version = "1.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Failed, RolloutId = rollout.Id, Error = "health check" });
        await ReportAsync("dev-003", new ReportedFirmware { Version = "2.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Succeeded, RolloutId = rollout.Id });
        var done = await _provider.Firmware.GetRolloutAsync(rollout.Id);
        Assert.Equal(RolloutStatus.Completed, done.Status);
        Assert.Equal(DeviceRolloutStatus.RolledBack, done.Devices[1].Status);
        Assert.Equal("1.0.0", (await DesiredFirmwareAsync("dev-002"))!.Release.Version);

        var cancelled = await _provider.Firmware.CancelRolloutAsync(rollout.Id);
        Assert.Equal(RolloutStatus.Completed, cancelled.Status);
    }

    [Fact]
    public async Task A_rollout_to_an_unknown_device_fails_before_anything_is_written()
    {
        await _provider.Firmware.CreateReleaseAsync(Release("2.0.0"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => _provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["dev-001", "ghost"] }));
        Assert.Null(await DesiredFirmwareAsync("dev-001"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => _provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "7.0.0", DeviceIds = ["dev-001"] }));
    }

    // moto has no device gateway: the fleet test writes the device's reported firmware into the shadow itself.
    private Task ReportAsync(string thing, ReportedFirmware report) => _provider.Shadows.UpdateAsync(thing,
        new JsonObject { ["state"] = new JsonObject { ["reported"] = new JsonObject { [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildReported(report) } } });

    private async Task<DesiredFirmware?> DesiredFirmwareAsync(string thing) =>
        (await _provider.State.GetAsync(thing)).Desired[FirmwareStateContract.PropertyName] is { } node ? FirmwareStateContract.ParseDesired(node) : null;

    private static FirmwareRelease Release(string version) => new()
    {
        Version = version,
        Uri = new Uri("https://firmware.example.com/images/fw.bin"),
        Sha256 = new string('a', 64),
        SizeBytes = 1024,
    };
}
