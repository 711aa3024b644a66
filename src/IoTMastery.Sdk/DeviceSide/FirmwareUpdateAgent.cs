using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>
/// The device-side firmware agent. Feed it desired-state changes; when the desired <c>firmware</c>
/// (see <see cref="FirmwareStateContract"/>) names a version other than the running one it checks
/// the release's signature against the trusted operator key (when one is configured, see
/// <see cref="FirmwareUpdateAgentOptions.TrustedOperatorKeyPem"/>), reports <c>downloading</c>,
/// downloads the image to a temporary file (resuming an interrupted download a bounded number of
/// times within a bounded time), verifies its size and SHA-256 (any failure is reported as failed and
/// the image is never installed), reports <c>installing</c>, calls the install callback and reports
/// <c>succeeded</c> (the new version now runs) or <c>failed</c>. Repeated deliveries of the same
/// desired firmware are ignored. Updates run one at a time.
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
    private readonly FirmwareSignatureVerifier? _verifier;
    private readonly FirmwareUpdateAgentOptions _options;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string? _lastHandledKey;
    // The last outcome (succeeded or failed) reported for a desired firmware, under _gate: what a running-version report
    // must repeat rather than clear.
    private ReportedFirmware? _outcome;

    /// <summary>
    /// Creates an agent for one device that requires <b>no signature</b>: for development only. Anyone who can
    /// set the device's desired state can make it install any image whose digest they also supply. In production
    /// use the constructor taking <see cref="FirmwareUpdateAgentOptions"/> with <see cref="FirmwareUpdateAgentOptions.TrustedOperatorKeyPem"/>.
    /// Downloads are resumed and bounded by the <see cref="FirmwareUpdateAgentOptions"/> defaults.
    /// </summary>
    /// <param name="connection">The device's connection, used to report progress.</param>
    /// <param name="runningVersion">The firmware version running now.</param>
    /// <param name="install">Installs a verified image and returns whether the post-install health check passed.</param>
    /// <param name="downloader">Opens image streams from an offset (a resume asks for the bytes not yet read); <see langword="null"/> for the default (file, http, https).</param>
    // No optional parameter: an overload set where one constructor has optional parameters and another has more
    // parameters cannot grow without breaking callers compiled against it (RS0026/RS0027), so the default is its own overload.
    public FirmwareUpdateAgent(IDeviceConnection connection, string runningVersion,
        Func<FirmwareRelease, Stream, CancellationToken, ValueTask<bool>> install, FirmwareDownloader? downloader)
        : this(connection, runningVersion, new FirmwareUpdateAgentOptions { Downloader = downloader }, install)
    {
    }

    /// <summary>
    /// Creates an agent for one device that requires <b>no signature</b> and downloads file, http and https images:
    /// for development only (see the overload taking <see cref="FirmwareUpdateAgentOptions"/> for production).
    /// </summary>
    /// <param name="connection">The device's connection, used to report progress.</param>
    /// <param name="runningVersion">The firmware version running now.</param>
    /// <param name="install">Installs a verified image and returns whether the post-install health check passed.</param>
    public FirmwareUpdateAgent(IDeviceConnection connection, string runningVersion,
        Func<FirmwareRelease, Stream, CancellationToken, ValueTask<bool>> install)
        : this(connection, runningVersion, install, downloader: null)
    {
    }

    /// <summary>Creates an agent for one device with a trusted operator key and download bounds.</summary>
    /// <param name="connection">The device's connection, used to report progress.</param>
    /// <param name="runningVersion">The firmware version running now.</param>
    /// <param name="options">The operator key and download bounds; validated here.</param>
    /// <param name="install">Installs a verified image and returns whether the post-install health check passed.</param>
    /// <exception cref="ArgumentException">An option is invalid, for example the key is not an ECDSA P-256 public key.</exception>
    public FirmwareUpdateAgent(IDeviceConnection connection, string runningVersion, FirmwareUpdateAgentOptions options,
        Func<FirmwareRelease, Stream, CancellationToken, ValueTask<bool>> install)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(runningVersion);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(install);
        options.Validate();
        _connection = connection;
        RunningVersion = runningVersion;
        _install = install;
        _options = options;
        _time = options.TimeProvider ?? TimeProvider.System;
        _download = options.Downloader ?? FirmwareDownloaders.CreateResumable();
        _verifier = options.TrustedOperatorKeyPem is { } pem ? FirmwareSignatureVerifier.FromPublicKeyPem(pem) : null;
    }

    /// <summary>Whether this agent installs only releases signed by a trusted operator key.</summary>
    public bool RequiresSignature => _verifier is not null;

    /// <summary>The firmware version running now; changes after a successful install.</summary>
    public string RunningVersion { get; private set; }

    /// <summary>
    /// Reports the running version, for example right after connecting. Once this agent has confirmed or failed a desired
    /// firmware, that outcome is reported again instead (it names the running version too): a bare version would clear the
    /// status and target the fleet waits for. Waits for an update in progress to finish; do not call it from the install callback.
    /// </summary>
    public async Task ReportRunningVersionAsync(CancellationToken cancellationToken = default)
    {
        // Under the gate: a connection may deliver the desired firmware (and the agent confirm it) while the application makes
        // this call right after connecting; whichever runs second must not undo the confirmation.
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ReportAsync(_outcome ?? new ReportedFirmware { Version = RunningVersion }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A handler that runs the agent and then <paramref name="next"/>, for <see cref="IDeviceConnection.SetDesiredStateHandler"/>.</summary>
    public DesiredStateHandler Chain(DesiredStateHandler? next = null) => async (desired, version, cancellationToken) =>
    {
        await HandleDesiredStateAsync(desired, version, cancellationToken).ConfigureAwait(false);
        if (next is not null)
            await next(desired, version, cancellationToken).ConfigureAwait(false);
    };

    /// <summary>
    /// Acts on a desired-state change; matches the handler <see cref="IDeviceConnection.SetDesiredStateHandler"/> takes,
    /// so it can be passed there directly. Returns once any update it started has finished and been reported.
    /// </summary>
    /// <param name="desired">The complete desired document; only its <c>firmware</c> property is read.</param>
    /// <param name="version">The document's version (unused: repeated deliveries are recognised by the desired firmware itself).</param>
    /// <param name="cancellationToken">Cancels the wait for, or the run of, an update.</param>
    public async ValueTask HandleDesiredStateAsync(JsonObject desired, long version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(desired);
        if (!desired.TryGetPropertyValue(FirmwareStateContract.PropertyName, out var node) || node is null)
            return;

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Same desired firmware as last time: already handled (or failed), so do nothing.
            var key = node.ToJsonString();
            if (key == _lastHandledKey)
                return;

            DesiredFirmware target;
            try
            {
                target = FirmwareStateContract.ParseDesired(node);
            }
            catch (FormatException ex)
            {
                _lastHandledKey = key;
                await ReportAsync(new ReportedFirmware { Version = RunningVersion, Status = FirmwareUpdateStatus.Failed, Error = ex.Message }, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (string.Equals(target.Release.Version, RunningVersion, StringComparison.Ordinal))
            {
                // Already running it (or asked to roll back to it): confirm so the fleet sees success.
                await ReportAsync(Report(FirmwareUpdateStatus.Succeeded, target), cancellationToken).ConfigureAwait(false);
                _lastHandledKey = key;
                return;
            }

            await UpdateAsync(target, cancellationToken).ConfigureAwait(false);
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
        // Checked before any download: an unsigned or forged release is not worth fetching.
        if (_verifier?.Check(release) is { } forged)
        {
            await ReportAsync(Report(FirmwareUpdateStatus.Failed, desired, forged), cancellationToken).ConfigureAwait(false);
            return;
        }
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
    // An interrupted transfer resumes at the byte it reached, at most MaxDownloadResumes times within DownloadTimeout.
    private async Task<string?> DownloadAndVerifyAsync(FirmwareRelease release, FileStream image, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var deadline = new CancellationTokenSource(_options.DownloadTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var token = linked.Token;
        var buffer = new byte[81920];
        long total = 0;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using (var source = await _download(release.Uri, total, token).ConfigureAwait(false))
                {
                    int read;
                    while ((read = await source.ReadAsync(buffer, token).ConfigureAwait(false)) > 0)
                    {
                        total += read;
                        if (total > release.SizeBytes)
                            return $"Firmware {release.Version} is larger than the expected {release.SizeBytes} bytes; not installed.";
                        hash.AppendData(buffer, 0, read);
                        await image.WriteAsync(buffer.AsMemory(0, read), token).ConfigureAwait(false);
                    }
                }
                break;
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return TimedOut(release, total);
            }
            catch (Exception ex) when (IsResumable(ex, cancellationToken))
            {
                if (attempt > _options.MaxDownloadResumes)
                    return $"Download of firmware {release.Version} failed after {attempt} attempts ({total} of {release.SizeBytes} bytes): {ex.GetType().Name}: {ex.Message}; not installed.";
                try
                {
                    await Task.Delay(_options.ResumeDelay * Math.Pow(2, attempt - 1), _time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    return TimedOut(release, total);
                }
            }
        }
        // A clean end of stream short of the size is a short image, not a dropped connection: resuming cannot help.
        if (total != release.SizeBytes)
            return $"Firmware {release.Version} is truncated: got {total} of {release.SizeBytes} bytes; not installed.";
        var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (!string.Equals(actual, release.Sha256, StringComparison.Ordinal))
            return $"Firmware {release.Version} failed SHA-256 verification (expected {release.Sha256}, got {actual}); not installed.";
        await image.FlushAsync(cancellationToken).ConfigureAwait(false);
        return null;
    }

    private string TimedOut(FirmwareRelease release, long total) =>
        $"Download of firmware {release.Version} did not finish within {_options.DownloadTimeout.TotalSeconds:0.###} s ({total} of {release.SizeBytes} bytes); not installed.";

    // Dropped connections and server-side errors may pass; a missing file, a refused request or a bad scheme will not.
    private static bool IsResumable(Exception ex, CancellationToken cancellationToken) => ex switch
    {
        FileNotFoundException or DirectoryNotFoundException => false,
        HttpRequestException { StatusCode: { } status } => (int)status >= 500 || status is System.Net.HttpStatusCode.RequestTimeout or System.Net.HttpStatusCode.TooManyRequests,
        HttpRequestException or IOException => true,
        // HttpClient's own timeout surfaces as a cancellation the caller did not ask for.
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    private ReportedFirmware Report(FirmwareUpdateStatus status, DesiredFirmware desired, string? error = null) => new()
    {
        Version = RunningVersion,
        TargetVersion = desired.Release.Version,
        Status = status,
        RolloutId = desired.RolloutId,
        Error = error,
    };

    private Task ReportAsync(ReportedFirmware report, CancellationToken cancellationToken)
    {
        // Kept before sending, so a report lost with a dropped connection is repeated by the next ReportRunningVersionAsync.
        if (report.Status is FirmwareUpdateStatus.Succeeded or FirmwareUpdateStatus.Failed) _outcome = report;
        return _connection.ReportStateAsync(new JsonObject { [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildReported(report) }, cancellationToken);
    }
}
