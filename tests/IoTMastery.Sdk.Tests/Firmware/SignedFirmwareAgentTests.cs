using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Tests.Firmware;

/// <summary>The agent with a trusted operator key, downloading over a real loopback HTTP server.</summary>
public sealed class SignedFirmwareAgentTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly byte[] Image = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 31 + 7)).ToArray();
    private readonly ECDsa _operator = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
        _operator.Dispose();
    }

    private LoopbackImageServer Serve(byte[]? bytes = null, Func<int, long?>? dropAfter = null, long? stallAfter = null, HttpStatusCode? status = null)
    {
        var server = new LoopbackImageServer(bytes ?? Image, dropAfter, stallAfter, status);
        _owned.Add(server);
        return server;
    }

    private static FirmwareRelease Unsigned(Uri uri, byte[]? image = null) => new()
    {
        Version = "2.0.0",
        Uri = uri,
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(image ?? Image)),
        SizeBytes = (image ?? Image).Length,
    };

    private (FirmwareUpdateAgent Agent, RecordingDeviceConnection Connection, List<byte[]> Installed) Agent(
        TimeSpan? downloadTimeout = null, int resumes = 3)
    {
        var connection = new RecordingDeviceConnection();
        var installed = new List<byte[]>();
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", new FirmwareUpdateAgentOptions
        {
            TrustedOperatorKeyPem = _operator.ExportSubjectPublicKeyInfoPem(),
            MaxDownloadResumes = resumes,
            ResumeDelay = TimeSpan.FromMilliseconds(10),
            DownloadTimeout = downloadTimeout ?? Bound,
        }, async (release, image, ct) =>
        {
            using var copy = new MemoryStream();
            await image.CopyToAsync(copy, ct);
            installed.Add(copy.ToArray());
            return true;
        });
        return (agent, connection, installed);
    }

    private static async Task<ReportedFirmware> RunAsync(FirmwareUpdateAgent agent, RecordingDeviceConnection connection, FirmwareRelease release)
    {
        var desired = new JsonObject { ["firmware"] = FirmwareStateContract.BuildDesired(release, "r1") };
        await agent.HandleDesiredStateAsync(desired, 1, default).AsTask().WaitAsync(Bound);
        return FirmwareStateContract.ParseReported(connection.Reports[^1]["firmware"]);
    }

    private static void AssertRefused(ReportedFirmware report, List<byte[]> installed, FirmwareUpdateAgent agent, string because)
    {
        Assert.Empty(installed);
        Assert.Equal("1.0.0", agent.RunningVersion);
        Assert.Equal((FirmwareUpdateStatus.Failed, "1.0.0", "2.0.0"), (report.Status, report.Version, report.TargetVersion));
        Assert.Contains(because, report.Error, StringComparison.Ordinal);
        Assert.Contains("not installed", report.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-token", report.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_signed_release_downloads_in_one_go_and_is_installed()
    {
        var server = Serve();
        var (agent, connection, installed) = Agent();

        var report = await RunAsync(agent, connection, Unsigned(server.Uri).Sign(_operator));

        Assert.Equal(FirmwareUpdateStatus.Succeeded, report.Status);
        Assert.Equal(Image, Assert.Single(installed));
        Assert.Equal([""], server.Requests);
        Assert.True(agent.RequiresSignature);
    }

    [Fact]
    public async Task A_connection_dropped_mid_body_twice_is_resumed_with_range_requests_and_the_image_installs()
    {
        // The first two responses are cut after 100,000 body bytes; the third completes.
        var server = Serve(dropAfter: n => n < 2 ? 100_000 : null);
        var (agent, connection, installed) = Agent();

        var report = await RunAsync(agent, connection, Unsigned(server.Uri).Sign(_operator));

        Assert.Equal(FirmwareUpdateStatus.Succeeded, report.Status);
        Assert.Equal(Image, Assert.Single(installed));
        var ranges = server.Requests.ToArray();
        Assert.Equal(3, ranges.Length);
        Assert.Equal("", ranges[0]);
        // Each resume asks for the bytes after the ones already received (at least what was flushed before the cut).
        var offsets = ranges[1..].Select(r => long.Parse(r["bytes=".Length..^1])).ToArray();
        Assert.True(offsets[0] > 0 && offsets[1] > offsets[0] && offsets[1] < Image.Length, string.Join(", ", ranges));
    }

    [Fact]
    public async Task A_download_that_always_drops_gives_up_after_the_bounded_number_of_resumes()
    {
        var server = Serve(dropAfter: _ => 1_000);
        var (agent, connection, installed) = Agent(resumes: 3);

        var release = Unsigned(server.Uri).Sign(_operator);

        var report = await RunAsync(agent, connection, release);

        AssertRefused(report, installed, agent, "failed after 4 attempts");
        Assert.Equal(4, server.Requests.Count);
        // Once reported failed, the same desired firmware delivered again is not retried in a loop.
        await agent.HandleDesiredStateAsync(new JsonObject { ["firmware"] = FirmwareStateContract.BuildDesired(release, "r1") }, 2, default);
        Assert.Equal(4, server.Requests.Count);
    }

    [Fact]
    public async Task A_stalled_download_is_abandoned_at_the_download_timeout()
    {
        var server = Serve(stallAfter: 50_000);
        var (agent, connection, installed) = Agent(downloadTimeout: TimeSpan.FromSeconds(1));
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var report = await RunAsync(agent, connection, Unsigned(server.Uri).Sign(_operator));

        AssertRefused(report, installed, agent, "did not finish within 1 s");
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_tampered_image_under_a_valid_signature_fails_sha256_and_is_never_installed()
    {
        var tampered = (byte[])Image.Clone();
        tampered[123_456] ^= 0x01;
        var server = Serve(tampered);
        var (agent, connection, installed) = Agent();

        var report = await RunAsync(agent, connection, Unsigned(server.Uri).Sign(_operator));

        AssertRefused(report, installed, agent, "failed SHA-256 verification");
    }

    [Fact]
    public async Task A_truncated_image_is_reported_truncated_and_never_installed()
    {
        var server = Serve(Image[..200_000]);
        var (agent, connection, installed) = Agent();

        var report = await RunAsync(agent, connection, Unsigned(server.Uri).Sign(_operator));

        AssertRefused(report, installed, agent, "truncated: got 200000 of 300000 bytes");
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task A_release_signed_by_another_key_is_refused_before_any_download()
    {
        var server = Serve();
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var (agent, connection, installed) = Agent();

        var report = await RunAsync(agent, connection, Unsigned(server.Uri).Sign(attacker));

        AssertRefused(report, installed, agent, "signature that does not match");
        Assert.Empty(server.Requests);
        Assert.Single(connection.Reports);   // failed, without a misleading "downloading" first
    }

    [Fact]
    public async Task A_manifest_altered_after_signing_is_refused_even_when_the_digest_matches_the_served_image()
    {
        // The attacker swaps the image and rewrites sha256/size in the desired state to match, keeping the operator's signature.
        var evil = Enumerable.Repeat((byte)0xEE, 1_000).ToArray();
        var server = Serve(evil);
        var genuine = Unsigned(server.Uri).Sign(_operator);
        var forged = genuine with { Sha256 = Convert.ToHexStringLower(SHA256.HashData(evil)), SizeBytes = evil.Length };
        var (agent, connection, installed) = Agent();

        var report = await RunAsync(agent, connection, forged);

        AssertRefused(report, installed, agent, "does not match its manifest");
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task An_unsigned_release_is_refused_when_a_key_is_required()
    {
        var server = Serve();
        var (agent, connection, installed) = Agent();

        var report = await RunAsync(agent, connection, Unsigned(server.Uri));

        AssertRefused(report, installed, agent, "is not signed");
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task A_client_error_is_not_retried()
    {
        var server = Serve(status: HttpStatusCode.NotFound);
        var (agent, connection, installed) = Agent();

        var report = await RunAsync(agent, connection, Unsigned(server.Uri).Sign(_operator));

        Assert.Empty(installed);
        Assert.Equal(FirmwareUpdateStatus.Failed, report.Status);
        Assert.Contains("404", report.Error, StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task A_server_error_is_retried_within_the_bound()
    {
        var server = Serve(status: HttpStatusCode.ServiceUnavailable);
        var (agent, connection, installed) = Agent(resumes: 2);

        var report = await RunAsync(agent, connection, Unsigned(server.Uri).Sign(_operator));

        AssertRefused(report, installed, agent, "failed after 3 attempts");
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task The_file_downloader_resumes_by_reading_from_the_offset()
    {
        var path = Path.Combine(Path.GetTempPath(), $"fw-resume-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(path, Image);
        try
        {
            var download = FirmwareDownloaders.CreateResumable();
            await using var stream = await download(new Uri(path), 250_000, default);
            using var rest = new MemoryStream();
            await stream.CopyToAsync(rest);
            Assert.Equal(Image[250_000..], rest.ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_custom_downloader_is_asked_to_resume_from_the_bytes_already_read()
    {
        var opened = 0;
        var offsets = new List<long>();
        Func<Uri, long, CancellationToken, ValueTask<Stream>> flaky = (_, offset, _) =>
        {
            offsets.Add(offset);
            // The first stream fails after 64 KiB; the second starts where the first stopped.
            var stream = Interlocked.Increment(ref opened) == 1 ? new FailingStream(Image, 65_536) : (Stream)new MemoryStream(Image[(int)offset..]);
            return ValueTask.FromResult(stream);
        };
        var connection = new RecordingDeviceConnection();
        var installed = new List<byte[]>();
        var agent = new FirmwareUpdateAgent(connection, "1.0.0", async (r, s, ct) =>
        {
            using var copy = new MemoryStream();
            await s.CopyToAsync(copy, ct);
            installed.Add(copy.ToArray());
            return true;
        }, flaky);

        var report = await RunAsync(agent, connection, Unsigned(new Uri("https://fw.example.test/2.0.0.bin")));

        Assert.Equal(FirmwareUpdateStatus.Succeeded, report.Status);
        Assert.Equal(Image, Assert.Single(installed));
        Assert.Equal(2, opened);
        Assert.Equal([0L, 65_536L], offsets);
        Assert.False(agent.RequiresSignature);
    }

    private sealed class FailingStream(byte[] bytes, int failAt) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= failAt) throw new IOException("connection reset");
            return base.ReadAsync(buffer[..(int)Math.Min(buffer.Length, failAt - Position)], cancellationToken);
        }
    }
}
