using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Aws.Tests.Moto;

/// <summary>Shadows, publish and firmware-as-jobs against moto.</summary>
[Collection(MotoCollection.Name)]
public sealed class MotoDataPlaneTests(MotoServer moto) : IAsyncLifetime
{
    private AwsIoTProvider _provider = null!;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync();
        _provider = await AwsIoTProvider.StartAsync(moto.Options());
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-001" });
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-002" });
    }

    public async Task DisposeAsync() => await _provider.DisposeAsync();

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
        var ex = await Assert.ThrowsAsync<PreconditionFailedException>(() =>
            _provider.State.UpdateDesiredAsync("dev-001", new JsonObject { ["led"] = "blink" }, state.DesiredVersion));
        Assert.Equal("ConflictException", ex.ErrorCode);
        Assert.Equal(state.DesiredVersion, ex.ExpectedVersion);
        Assert.Equal(state.DesiredVersion + 1, ex.CurrentVersion);
    }

    [Fact]
    public async Task State_of_an_unknown_device_is_device_not_found()
    {
        await Assert.ThrowsAsync<DeviceNotFoundException>(() => _provider.State.GetAsync("ghost"));
    }

    [Fact]
    public async Task Named_shadows_are_separate_from_the_classic_one()
    {
        await _provider.Shadows.UpdateAsync("dev-001", new JsonObject { ["state"] = new JsonObject { ["reported"] = new JsonObject { ["t"] = 1 } } }, "config");
        var named = await _provider.Shadows.GetAsync("dev-001", "config");
        Assert.Equal(1, (int?)named["state"]?["reported"]?["t"]);
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => _provider.Shadows.GetAsync("dev-001"));
        var deleted = await _provider.Shadows.DeleteAsync("dev-001", "config");
        Assert.NotNull(deleted["version"]);
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => _provider.Shadows.GetAsync("dev-001", "config"));
        await Assert.ThrowsAsync<ArgumentException>(() => _provider.Shadows.GetAsync("dev-001", "bad name"));
        await Assert.ThrowsAsync<PayloadTooLargeException>(() => _provider.Shadows.UpdateAsync("dev-001",
            new JsonObject { ["state"] = new JsonObject { ["reported"] = new JsonObject { ["blob"] = new string('x', 9000) } } }));
    }

    [Fact]
    public async Task Publish_over_http_is_accepted_for_awkward_topics()
    {
        await _provider.PublishAsync("fleet/dev 001/$telemetry", Encoding.UTF8.GetBytes("{\"t\":1}"), qos: 1);
        await _provider.PublishAsync("retained/config", Encoding.UTF8.GetBytes("{}"), qos: 0, retain: true);
    }

    [Fact]
    public async Task Releases_are_job_templates_and_a_replay_is_not_a_conflict()
    {
        var release = Release("1.2.0+build.7");
        await _provider.Firmware.CreateReleaseAsync(release);
        var again = await _provider.Firmware.CreateReleaseAsync(release);
        Assert.Equal(release.Sha256, again.Sha256);
        await Assert.ThrowsAsync<ResourceAlreadyExistsException>(() => _provider.Firmware.CreateReleaseAsync(release with { Sha256 = new string('b', 64) }));
        var loaded = await _provider.Firmware.GetReleaseAsync("1.2.0+build.7");
        Assert.Equal(release.Uri, loaded.Uri);
        Assert.Equal(release.SizeBytes, loaded.SizeBytes);
        var listed = new List<FirmwareRelease>();
        await foreach (var r in _provider.Firmware.ListReleasesAsync()) listed.Add(r);
        Assert.Equal("1.2.0+build.7", Assert.Single(listed).Version);
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => _provider.Firmware.GetReleaseAsync("9.9.9"));
    }

    [Fact]
    public async Task A_rollout_is_one_job_with_rollout_abort_timeout_and_retry_config()
    {
        await _provider.Firmware.CreateReleaseAsync(Release("2.0.0"));
        var rollout = await _provider.Firmware.StartRolloutAsync(new RolloutPlan
        {
            ReleaseVersion = "2.0.0",
            DeviceIds = ["dev-001", "dev-002"],
            WaveSizes = [1, 1],
            FailureThreshold = 0.25,
            DeviceTimeout = TimeSpan.FromMinutes(15),
        });
        Assert.StartsWith("iotm-rollout-", rollout.Id);
        Assert.Equal(["dev-001", "dev-002"], rollout.Plan.DeviceIds);
        Assert.Equal(2, rollout.WaveCount);
        Assert.Equal(2, rollout.Devices.Count);
        Assert.Equal(RolloutStatus.InProgress, rollout.Status);

        var job = await _provider.ControlPlane.DescribeJobAsync(rollout.Id, default);
        Assert.Equal(1, (int?)job["jobExecutionsRolloutConfig"]?["exponentialRate"]?["baseRatePerMinute"]);
        Assert.Equal(25.0, (double?)job["abortConfig"]?["criteriaList"]?[0]?["thresholdPercentage"]);
        Assert.Equal(15, (int?)job["timeoutConfig"]?["inProgressTimeoutInMinutes"]);
        Assert.Equal("TIMED_OUT", (string?)job["jobExecutionsRetryConfig"]?["criteriaList"]?[0]?["failureType"]);
        var document = JsonNode.Parse((await _provider.ControlPlane.GetJobDocumentAsync(rollout.Id, default))!)!;
        Assert.Equal("2.0.0", (string?)document["firmware"]?["version"]);
        Assert.Equal(new string('a', 64), (string?)document["firmware"]?["sha256"]);

        var cancelled = await _provider.Firmware.CancelRolloutAsync(rollout.Id);
        Assert.Equal(RolloutStatus.Cancelled, cancelled.Status);
    }

    [Fact]
    public async Task A_rollout_to_an_unknown_device_fails_before_creating_a_job()
    {
        await _provider.Firmware.CreateReleaseAsync(Release("2.0.0"));
        await Assert.ThrowsAsync<DeviceNotFoundException>(() => _provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["ghost"] }));
    }

    private static FirmwareRelease Release(string version) => new()
    {
        Version = version,
        Uri = new Uri("https://firmware.example.com/images/fw.bin"),
        Sha256 = new string('a', 64),
        SizeBytes = 1024,
    };
}
