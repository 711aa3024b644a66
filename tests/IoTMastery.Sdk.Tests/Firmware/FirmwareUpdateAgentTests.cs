using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Tests.Firmware;

public class FirmwareUpdateAgentTests
{
    private static readonly byte[] Image = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7)).ToArray();

    private static FirmwareRelease Release(byte[]? image = null, string? sha = null, long? size = null) => new()
    {
        Version = "2.0.0",
        Uri = new Uri("https://fw.example.test/2.0.0.bin?sig=secret-token"),
        Sha256 = sha ?? Convert.ToHexStringLower(SHA256.HashData(image ?? Image)),
        SizeBytes = size ?? (image ?? Image).Length,
    };

    private static JsonObject Desired(FirmwareRelease release, string rollout = "r1") =>
        new() { ["firmware"] = FirmwareStateContract.BuildDesired(release, rollout), ["other"] = 1 };

    private sealed class Installer
    {
        public List<(string Version, byte[] Bytes)> Installed { get; } = [];
        public bool Healthy { get; set; } = true;

        public async ValueTask<bool> InstallAsync(FirmwareRelease release, Stream image, CancellationToken ct)
        {
            using var copy = new MemoryStream();
            await image.CopyToAsync(copy, ct);
            Installed.Add((release.Version, copy.ToArray()));
            return Healthy;
        }
    }

    private static Func<Uri, long, CancellationToken, ValueTask<Stream>> Serve(byte[] bytes) => (_, offset, _) => ValueTask.FromResult<Stream>(new MemoryStream(bytes, (int)Math.Min(offset, bytes.Length), bytes.Length - (int)Math.Min(offset, bytes.Length)));

    private static List<ReportedFirmware> Reports(RecordingDeviceConnection connection) =>
        connection.Reports.Select(r => FirmwareStateContract.ParseReported(r["firmware"])).ToList();

    [Fact]
    public async Task A_good_image_is_verified_installed_and_reported_succeeded()
    {
        var connection = new RecordingDeviceConnection();
        var installer = new Installer();
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", installer.InstallAsync, Serve(Image));

        await agent.HandleDesiredStateAsync(Desired(Release()), 1, default);

        Assert.Equal("2.0.0", agent.RunningVersion);
        Assert.Equal(Image, Assert.Single(installer.Installed).Bytes);
        var reports = Reports(connection);
        Assert.Equal([FirmwareUpdateStatus.Downloading, FirmwareUpdateStatus.Installing, FirmwareUpdateStatus.Succeeded], reports.Select(r => r.Status!.Value));
        Assert.Equal(new ReportedFirmware { Version = "2.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Succeeded, RolloutId = "r1" }, reports[^1]);
        Assert.Equal("1.0.0", reports[0].Version);
    }

    [Fact]
    public async Task A_sha256_mismatch_is_reported_failed_and_never_installed()
    {
        var connection = new RecordingDeviceConnection();
        var installer = new Installer();
        var tampered = (byte[])Image.Clone();
        tampered[500] ^= 0xFF;
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", installer.InstallAsync, Serve(tampered));

        await agent.HandleDesiredStateAsync(Desired(Release()), 1, default);

        Assert.Empty(installer.Installed);
        Assert.Equal("1.0.0", agent.RunningVersion);
        var last = Reports(connection)[^1];
        Assert.Equal((FirmwareUpdateStatus.Failed, "1.0.0", "2.0.0"), (last.Status, last.Version, last.TargetVersion));
        Assert.Contains("SHA-256", last.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-token", last.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1000)]
    [InlineData(+1)]
    public async Task A_truncated_or_oversize_image_is_reported_failed_and_never_installed(int delta)
    {
        var connection = new RecordingDeviceConnection();
        var installer = new Installer();
        var served = delta < 0 ? Image[..^(-delta)] : [.. Image, 0];
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", installer.InstallAsync, Serve(served));

        await agent.HandleDesiredStateAsync(Desired(Release()), 1, default);

        Assert.Empty(installer.Installed);
        var last = Reports(connection)[^1];
        Assert.Equal(FirmwareUpdateStatus.Failed, last.Status);
        Assert.Contains(delta < 0 ? "truncated" : "larger", last.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_health_check_is_reported_failed_and_keeps_the_old_version()
    {
        var connection = new RecordingDeviceConnection();
        var installer = new Installer { Healthy = false };
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", installer.InstallAsync, Serve(Image));

        await agent.HandleDesiredStateAsync(Desired(Release()), 1, default);

        Assert.Single(installer.Installed);
        Assert.Equal("1.0.0", agent.RunningVersion);
        var last = Reports(connection)[^1];
        Assert.Equal((FirmwareUpdateStatus.Failed, "1.0.0"), (last.Status, last.Version));
        Assert.Contains("health check", last.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Repeated_deliveries_of_the_same_firmware_do_nothing()
    {
        var connection = new RecordingDeviceConnection();
        var installer = new Installer();
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", installer.InstallAsync, Serve(Image));

        await agent.HandleDesiredStateAsync(Desired(Release()), 1, default);
        var reported = connection.Reports.Count;
        await agent.HandleDesiredStateAsync(Desired(Release()), 2, default);   // other desired keys changed
        await agent.HandleDesiredStateAsync(Desired(Release()), 3, default);

        Assert.Single(installer.Installed);
        Assert.Equal(reported, connection.Reports.Count);
    }

    [Fact]
    public async Task Desired_state_without_firmware_is_ignored_and_chaining_runs_the_next_handler()
    {
        var connection = new RecordingDeviceConnection();
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", new Installer().InstallAsync, Serve(Image));
        var seen = new List<long>();
        var handler = agent.Chain((_, version, _) => { seen.Add(version); return ValueTask.CompletedTask; });

        await handler(new JsonObject { ["led"] = "on" }, 4, default);

        Assert.Empty(connection.Reports);
        Assert.Equal([4L], seen);
    }

    [Fact]
    public async Task Asked_for_the_running_version_it_confirms_success_once()
    {
        var connection = new RecordingDeviceConnection();
        var installer = new Installer();
        var agent = new FirmwareUpdateAgent(connection, "2.0.0", installer.InstallAsync, Serve(Image));

        await agent.HandleDesiredStateAsync(Desired(Release()), 1, default);
        await agent.HandleDesiredStateAsync(Desired(Release()), 2, default);

        Assert.Empty(installer.Installed);
        var report = Assert.Single(Reports(connection));
        Assert.Equal((FirmwareUpdateStatus.Succeeded, "2.0.0", "r1"), (report.Status, report.Version, report.RolloutId));
    }

    [Fact]
    public async Task Reporting_the_running_version_after_a_confirmation_keeps_the_confirmation()
    {
        // A device reconnecting after its managing process was replaced: the connection delivers the desired firmware it
        // already runs (the agent confirms it) while the application reports its running version "right after connecting".
        // The bare running-version report merges null status and target over the confirmation; the rollout then never
        // sees this device succeed and hangs (the contract suite's resume scenario, 1 run in 3-4 under load).
        var connection = new RecordingDeviceConnection();
        var agent = new FirmwareUpdateAgent(connection, "2.0.0", new Installer().InstallAsync, Serve(Image));

        await agent.HandleDesiredStateAsync(Desired(Release()), 1, default);
        await agent.ReportRunningVersionAsync();

        var merged = connection.Reports.Aggregate(new JsonObject(), (state, patch) => JsonMergePatch.Apply(state, patch));
        Assert.Equal(new ReportedFirmware { Version = "2.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Succeeded, RolloutId = "r1" },
            FirmwareStateContract.ParseReported(merged["firmware"]));
    }

    [Fact]
    public async Task Reporting_the_running_version_before_any_desired_firmware_reports_no_status()
    {
        var connection = new RecordingDeviceConnection();
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", new Installer().InstallAsync, Serve(Image));

        await agent.ReportRunningVersionAsync();

        Assert.Equal(new ReportedFirmware { Version = "1.0.0" }, Assert.Single(Reports(connection)));
    }

    [Fact]
    public async Task Malformed_desired_firmware_is_reported_failed()
    {
        var connection = new RecordingDeviceConnection();
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", new Installer().InstallAsync, Serve(Image));

        await agent.HandleDesiredStateAsync(new JsonObject { ["firmware"] = new JsonObject { ["version"] = "2" } }, 1, default);

        Assert.Equal(FirmwareUpdateStatus.Failed, Assert.Single(Reports(connection)).Status);
    }

    [Fact]
    public async Task The_default_downloader_reads_file_uris()
    {
        var path = Path.Combine(Path.GetTempPath(), $"fw-test-{Guid.NewGuid():N}.bin");
        try
        {
            await File.WriteAllBytesAsync(path, Image);
            var connection = new RecordingDeviceConnection();
            var installer = new Installer();
            var agent = new FirmwareUpdateAgent(connection, "1.0.0", installer.InstallAsync);

            await agent.HandleDesiredStateAsync(Desired(Release() with { Uri = new Uri(path) }), 1, default);

            Assert.Equal(Image, Assert.Single(installer.Installed).Bytes);
            Assert.Equal(FirmwareUpdateStatus.Succeeded, Reports(connection)[^1].Status);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_missing_file_is_reported_as_a_download_failure()
    {
        var connection = new RecordingDeviceConnection();
        var installer = new Installer();
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", installer.InstallAsync);
        var missing = new Uri(Path.Combine(Path.GetTempPath(), $"fw-missing-{Guid.NewGuid():N}.bin"));

        await agent.HandleDesiredStateAsync(Desired(Release() with { Uri = missing }), 1, default);

        Assert.Empty(installer.Installed);
        Assert.Contains("Download", Reports(connection)[^1].Error, StringComparison.Ordinal);
    }
}
