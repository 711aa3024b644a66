using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>
/// The device-side firmware agent. Feed it desired-state changes; when the desired <c>firmware</c>
/// (see <see cref="FirmwareStateContract"/>) names a version other than the running one it reports
/// <c>downloading</c>, downloads the image to a temporary file, verifies its size and SHA-256
/// (a mismatch is reported as failed and the image is never installed), reports <c>installing</c>,
/// calls the install callback and reports <c>succeeded</c> (the new version now runs) or
/// <c>failed</c>. Repeated deliveries of the same desired firmware are ignored. Updates run one
/// at a time.
/// </summary>
/// <example>
/// Combine with your own handler:
/// <code>connection.SetDesiredStateHandler(agent.Chain(myHandler));</code>
/// or call <see cref="HandleDesiredStateAsync"/> from inside your handler.
/// </example>
public sealed class FirmwareUpdateAgent
{
    private readonly IDeviceConnection _connection;
    private readonly Func<FirmwareRelease, Stream, CancellationToken, ValueTask<bool>> _install;
    private readonly FirmwareDownloader _download;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string? _lastHandledKey;

    /// <summary>Creates an agent for one device.</summary>
    /// <param name="connection">The device's connection, used to report progress.</param>
    /// <param name="runningVersion">The firmware version running now.</param>
    /// <param name="install">Installs a verified image and returns whether the post-install health check passed.</param>
    /// <param name="downloader">Opens image streams; default <see cref="FirmwareDownloaders.Create"/> (file, http, https).</param>
    public FirmwareUpdateAgent(IDeviceConnection connection, string runningVersion,
        Func<FirmwareRelease, Stream, CancellationToken, ValueTask<bool>> install, FirmwareDownloader? downloader = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(runningVersion);
        ArgumentNullException.ThrowIfNull(install);
        _connection = connection;
        RunningVersion = runningVersion;
        _install = install;
        _download = downloader ?? FirmwareDownloaders.Create();
    }

    /// <summary>The firmware version running now; changes after a successful install.</summary>
    public string RunningVersion { get; private set; }

    /// <summary>Reports the running version (no update in progress), for example right after connecting.</summary>
    public Task ReportRunningVersionAsync(CancellationToken cancellationToken = default) =>
        ReportAsync(new ReportedFirmware { Version = RunningVersion }, cancellationToken);

    /// <summary>A handler that runs the agent and then <paramref name="next"/>, for <see cref="IDeviceConnection.SetDesiredStateHandler"/>.</summary>
    public DesiredStateHandler Chain(DesiredStateHandler? next = null) => async (change, cancellationToken) =>
    {
        await HandleDesiredStateAsync(change, cancellationToken).ConfigureAwait(false);
        if (next is not null)
            await next(change, cancellationToken).ConfigureAwait(false);
    };

    /// <summary>
    /// Acts on a desired-state change; matches <see cref="DesiredStateHandler"/>. Returns once any
    /// update it started has finished and been reported.
    /// </summary>
    public async ValueTask HandleDesiredStateAsync(DesiredStateChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (!change.Desired.TryGetPropertyValue(FirmwareStateContract.PropertyName, out var node) || node is null)
            return;

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Same desired firmware as last time: already handled (or failed), so do nothing.
            var key = node.ToJsonString();
            if (key == _lastHandledKey)
                return;

            DesiredFirmware desired;
            try
            {
                desired = FirmwareStateContract.ParseDesired(node);
            }
            catch (FormatException ex)
            {
                _lastHandledKey = key;
                await ReportAsync(new ReportedFirmware { Version = RunningVersion, Status = FirmwareUpdateStatus.Failed, Error = ex.Message }, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (string.Equals(desired.Release.Version, RunningVersion, StringComparison.Ordinal))
            {
                // Already running it (or asked to roll back to it): confirm so the fleet sees success.
                await ReportAsync(Report(FirmwareUpdateStatus.Succeeded, desired), cancellationToken).ConfigureAwait(false);
                _lastHandledKey = key;
                return;
            }

            await UpdateAsync(desired, cancellationToken).ConfigureAwait(false);
            _lastHandledKey = key;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task UpdateAsync(DesiredFirmware desired, CancellationToken cancellationToken)
    {
        var release = desired.Release;
        await ReportAsync(Report(FirmwareUpdateStatus.Downloading, desired), cancellationToken).ConfigureAwait(false);

        var path = Path.Combine(Path.GetTempPath(), "iotmastery-fw-" + Guid.NewGuid().ToString("N"));
        await using var image = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 81920,
            FileOptions.Asynchronous | FileOptions.DeleteOnClose);

        string? problem;
        try
        {
            problem = await DownloadAndVerifyAsync(release, image, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or UnauthorizedAccessException or NotSupportedException)
        {
            // The message of these exceptions never holds the URI's query, where download tokens live.
            problem = $"Download of firmware {release.Version} failed: {ex.GetType().Name}: {ex.Message}";
        }
        if (problem is not null)
        {
            await ReportAsync(Report(FirmwareUpdateStatus.Failed, desired, problem), cancellationToken).ConfigureAwait(false);
            return;
        }

        await ReportAsync(Report(FirmwareUpdateStatus.Installing, desired), cancellationToken).ConfigureAwait(false);
        image.Position = 0;
        bool healthy;
        try
        {
            healthy = await _install(release, image, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await ReportAsync(Report(FirmwareUpdateStatus.Failed, desired, $"Installing firmware {release.Version} threw {ex.GetType().Name}: {ex.Message}"), cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!healthy)
        {
            await ReportAsync(Report(FirmwareUpdateStatus.Failed, desired, $"Firmware {release.Version} failed its post-install health check."), cancellationToken).ConfigureAwait(false);
            return;
        }
        RunningVersion = release.Version;
        await ReportAsync(Report(FirmwareUpdateStatus.Succeeded, desired), cancellationToken).ConfigureAwait(false);
    }

    // Returns null when the image is exactly SizeBytes long with the expected SHA-256, else why not.
    private async Task<string?> DownloadAndVerifyAsync(FirmwareRelease release, FileStream image, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        long total = 0;
        await using (var source = await _download(release.Uri, cancellationToken).ConfigureAwait(false))
        {
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                total += read;
                if (total > release.SizeBytes)
                    return $"Firmware {release.Version} is larger than the expected {release.SizeBytes} bytes; not installed.";
                hash.AppendData(buffer, 0, read);
                await image.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
        }
        if (total != release.SizeBytes)
            return $"Firmware {release.Version} is truncated: got {total} of {release.SizeBytes} bytes; not installed.";
        var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (!string.Equals(actual, release.Sha256, StringComparison.Ordinal))
            return $"Firmware {release.Version} failed SHA-256 verification (expected {release.Sha256}, got {actual}); not installed.";
        await image.FlushAsync(cancellationToken).ConfigureAwait(false);
        return null;
    }

    private ReportedFirmware Report(FirmwareUpdateStatus status, DesiredFirmware desired, string? error = null) => new()
    {
        Version = RunningVersion,
        TargetVersion = desired.Release.Version,
        Status = status,
        RolloutId = desired.RolloutId,
        Error = error,
    };

    private Task ReportAsync(ReportedFirmware report, CancellationToken cancellationToken) =>
        _connection.ReportStateAsync(new JsonObject { [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildReported(report) }, cancellationToken);
}
