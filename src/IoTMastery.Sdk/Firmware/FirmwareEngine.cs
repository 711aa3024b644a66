using System.Runtime.CompilerServices;
using IoTMastery.Sdk.Providers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk;

/// <summary>
/// The one firmware service behind every provider: releases and rollouts in an <see cref="IFirmwareStore"/>, decisions by
/// <see cref="RolloutOrchestrator"/>, per-device work through an <see cref="IFirmwareDelivery"/>.
/// </summary>
/// <remarks>
/// <para><b>Crash safety.</b> Every decision (the new rollout and the offers and rollbacks it implies) is written to the
/// store in one compare-and-swap before any action runs; actions are removed from the store once performed. Each
/// evaluation first performs what an earlier one (in this or a dead process) left outstanding. Actions are writes of a
/// desired <c>firmware</c> object, so repeating one is harmless. The revision check means two processes sharing a
/// store never both apply a decision: the loser re-reads and decides again.</para>
/// <para><b>The same on every provider.</b> A release replayed with the identical image is accepted (a retried call whose
/// answer was lost); a different image under an existing version is <see cref="IoTErrorKind.AlreadyExists"/>. A device
/// the provider reports as gone (<see cref="IoTErrorKind.DeviceNotFound"/> when reading its report or writing its desired
/// firmware) becomes one failed device at once and the thresholds decide; it never fails the call. A rollback to a
/// release that is not registered leaves the device failed with an explanation. A device whose state cannot be read or
/// written is logged and skipped (it times out as failed), so it never stops the other devices' waves.</para>
/// <para>Thread-safe; evaluations run one at a time per engine.</para>
/// </remarks>
internal sealed partial class FirmwareEngine : IFirmwareService, IRolloutChangeSource, IDisposable
{
    /// <summary>The error of a device deleted during a rollout.</summary>
    internal const string DeviceGoneError = "The device no longer exists: it was deleted during the rollout.";

    // A conflict means another process applied a decision between our read and write; a few re-reads settle it.
    private const int MaxAttempts = 5;

    // The same default page as a device listing's.
    private const int DefaultPageSize = DeviceQuery.DefaultPageSize;

    private readonly IFirmwareStore _store;
    private readonly IFirmwareDelivery _delivery;
    private readonly string _provider;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _evaluationLock = new(1, 1);
    private readonly RolloutChangeSignal _changes = new();
    private volatile bool _disposed;

    private enum Mode { Start, Evaluate, Cancel }

    /// <summary>Creates the engine.</summary>
    /// <param name="store">Where releases and rollouts live.</param>
    /// <param name="delivery">The provider's per-device reads and writes.</param>
    /// <param name="provider">The provider name carried by exceptions.</param>
    /// <param name="timeProvider">The clock for timeouts; defaults to the system clock.</param>
    /// <param name="logger">Receives per-device problems that do not fail a call.</param>
    public FirmwareEngine(IFirmwareStore store, IFirmwareDelivery delivery, string provider, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(delivery);
        ArgumentException.ThrowIfNullOrEmpty(provider);
        _store = store;
        _delivery = delivery;
        _provider = provider;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    RolloutChangeSignal? IRolloutChangeSource.Changes => _changes;

    /// <inheritdoc />
    TimeProvider IRolloutChangeSource.Time => _time;

    /// <inheritdoc />
    public async Task<FirmwareRelease> CreateReleaseAsync(FirmwareRelease release, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        release.Validate();
        ThrowIfDisposed();
        var kept = await _store.AddReleaseIfAbsentAsync(release with { CreatedAt = _time.GetUtcNow() }, cancellationToken).ConfigureAwait(false);
        if (!SameImage(kept, release))
            throw new IoTException(IoTErrorKind.AlreadyExists, $"Firmware release '{ErrorText.Escape(release.Version)}' already exists with a different image, signature or channel.", _provider, "ReleaseAlreadyExists");
        return kept;
    }

    /// <inheritdoc />
    public async Task<FirmwareRelease> GetReleaseAsync(string version, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        ThrowIfDisposed();
        return await _store.GetReleaseAsync(version, cancellationToken).ConfigureAwait(false)
            ?? throw new IoTException(IoTErrorKind.NotFound, $"Firmware release '{ErrorText.Escape(version)}' was not found.", _provider, "ReleaseNotFound");
    }

    /// <inheritdoc />
    public IoTPageable<FirmwareRelease> ListReleasesAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return new CursorPageable<FirmwareRelease>(PageScope.Of("releases", _provider), DefaultPageSize, (after, size, ct) =>
        {
            ThrowIfDisposed();
            return _store.ListReleasesPageAsync(after, size, ct);
        }, cursorIsValid: null, cancellationToken);
    }

    /// <inheritdoc />
    public IoTPageable<Rollout> ListRolloutsAsync(RolloutStatus? status = null, CancellationToken cancellationToken = default)
    {
        if (status is { } s && !Enum.IsDefined(s))
            throw new ArgumentOutOfRangeException(nameof(status), s, "Not a rollout status.");
        ThrowIfDisposed();
        return new CursorPageable<Rollout>(PageScope.Of("rollouts", _provider, status?.ToString()), DefaultPageSize, (after, size, ct) =>
        {
            ThrowIfDisposed();
            return _store.ListRolloutsPageAsync(after, status, size, ct);
        }, cursorIsValid: null, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<RolloutOperation> StartRolloutAsync(RolloutPlan plan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        plan.Validate();
        foreach (var id in plan.DeviceIds)
            _delivery.DeviceIdRules.Validate(id, nameof(plan.DeviceIds));
        ThrowIfDisposed();
        await GetReleaseAsync(plan.ReleaseVersion, cancellationToken).ConfigureAwait(false);

        await _evaluationLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Read before anything is written: an unknown device fails the call with nothing stored.
            var previous = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var id in plan.DeviceIds)
            {
                try
                {
                    previous[id] = (await _delivery.ReadReportedAsync(id, cancellationToken).ConfigureAwait(false))?.Version;
                }
                catch (IoTException ex) when (ex.Kind != IoTErrorKind.DeviceNotFound && !ex.IsTransient)
                {
                    // Unreadable for good (not a passing fault): the device joins without a known previous version.
                    LogReportUnreadableAtStart(_logger, id, ex.ErrorCode);
                    previous[id] = null;
                }
            }
            var decision = RolloutOrchestrator.Start("ro-" + Guid.NewGuid().ToString("N"), plan, previous, _time.GetUtcNow());
            await _store.AddRolloutAsync(decision.Rollout, decision.Actions, cancellationToken).ConfigureAwait(false);
            return new RolloutOperation(this, await RunAsync(decision.Rollout.Id, Mode.Start, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            _evaluationLock.Release();
        }
    }

    /// <inheritdoc />
    public Task<Rollout> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ValidateRolloutId(rolloutId);
        return RunLockedAsync(rolloutId, Mode.Evaluate, cancellationToken);
    }

    /// <inheritdoc />
    public Task<Rollout> CancelRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ValidateRolloutId(rolloutId);
        return RunLockedAsync(rolloutId, Mode.Cancel, cancellationToken);
    }

    /// <summary>
    /// Re-evaluates at once every unfinished rollout in which <paramref name="deviceId"/> is still in progress, for
    /// providers that learn of reports as they arrive. Failures are logged: the next read of the rollout retries.
    /// </summary>
    public async Task OnDeviceReportedAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        if (_disposed) return;
        try
        {
            foreach (var id in await _store.ListUnfinishedRolloutIdsAsync(cancellationToken).ConfigureAwait(false))
            {
                var stored = await _store.GetRolloutAsync(id, cancellationToken).ConfigureAwait(false);
                if (stored?.Rollout.Devices.Any(d => d.Status == DeviceRolloutStatus.InProgress && d.DeviceId == deviceId) == true)
                    await GetRolloutAsync(id, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not ObjectDisposedException)
        {
            LogReportEvaluationFailed(_logger, ex, deviceId);
        }
    }

    /// <summary>Stops accepting calls; the store is the caller's to dispose.</summary>
    public void Dispose() => _disposed = true;

    private async Task<Rollout> RunLockedAsync(string rolloutId, Mode mode, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        await _evaluationLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunAsync(rolloutId, mode, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _evaluationLock.Release();
        }
    }

    private async Task<Rollout> RunAsync(string rolloutId, Mode mode, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var stored = await _store.GetRolloutAsync(rolloutId, cancellationToken).ConfigureAwait(false)
                ?? throw new IoTException(IoTErrorKind.NotFound, $"Rollout '{ErrorText.Escape(rolloutId)}' was not found.", _provider, "RolloutNotFound");
            if (await TryRunAsync(stored, mode, cancellationToken).ConfigureAwait(false) is { } result)
                return result;
            LogConcurrentChange(_logger, rolloutId, attempt);
        }
        throw new IoTException(IoTErrorKind.Unknown, $"Rollout '{ErrorText.Escape(rolloutId)}' kept changing under concurrent updates; try again.", _provider, "RolloutConflict", isTransient: true);
    }

    /// <summary>One evaluation on a stored rollout; <see langword="null"/> when another writer changed it first.</summary>
    private async Task<Rollout?> TryRunAsync(StoredRollout stored, Mode mode, CancellationToken cancellationToken)
    {
        var rollout = stored.Rollout;
        var revision = stored.Revision;
        var pending = stored.PendingActions.ToList();
        var gone = new HashSet<string>(StringComparer.Ordinal);
        var dirty = false;

        // 1. What an earlier evaluation decided but could not confirm: performed before anything new is decided.
        if (pending.Count > 0)
        {
            var (left, missing) = await PerformAsync(rollout, pending, cancellationToken).ConfigureAwait(false);
            dirty = left.Count != pending.Count;
            pending = left;
            gone.UnionWith(missing);
        }

        // 2. Decide, persist, perform; again only while performing found deleted devices (each round fails them).
        for (var round = 0; round <= rollout.WaveCount + 1; round++)
        {
            var now = _time.GetUtcNow();
            var reports = new Dictionary<string, ReportedFirmware>(StringComparer.Ordinal);
            if (round == 0 && mode == Mode.Evaluate)
                await ReadReportsAsync(rollout, reports, gone, cancellationToken).ConfigureAwait(false);
            var (marked, markedChanged) = MarkGone(rollout, gone, now);
            gone.Clear();
            var decision = round == 0 && mode == Mode.Cancel
                ? RolloutOrchestrator.Cancel(marked, "Cancelled by the operator.", now)
                : RolloutOrchestrator.Evaluate(marked, reports, now);
            if (!markedChanged && !decision.Changed)
                break;

            var (next, actions) = await DropUnregisteredRollbacksAsync(decision.Rollout, decision.Actions, cancellationToken).ConfigureAwait(false);
            rollout = next;
            pending.AddRange(actions);
            // The decision and its actions are durable before any action runs.
            if (!await _store.TryUpdateRolloutAsync(rollout, pending, revision, cancellationToken).ConfigureAwait(false))
                return null;
            revision++;
            // Waiting handles re-read at once instead of at their next poll.
            _changes.Signal();
            dirty = false;
            if (actions.Count == 0)
                break;

            var (notDone, missing) = await PerformAsync(rollout, actions, cancellationToken).ConfigureAwait(false);
            var done = actions.Except(notDone).ToHashSet();
            dirty = done.Count > 0;
            pending = pending.Where(a => !done.Contains(a)).ToList();
            if (missing.Count == 0)
                break;
            gone.UnionWith(missing);
        }

        if (dirty && !await _store.TryUpdateRolloutAsync(rollout, pending, revision, cancellationToken).ConfigureAwait(false))
            return null;
        return rollout;
    }

    /// <summary>Performs actions that still apply; returns those that failed (kept for the next evaluation) and the devices found deleted.</summary>
    private async Task<(List<RolloutAction> Left, List<string> Gone)> PerformAsync(Rollout rollout, IReadOnlyList<RolloutAction> actions, CancellationToken cancellationToken)
    {
        var left = new List<RolloutAction>();
        var gone = new List<string>();
        var devices = rollout.Devices.ToDictionary(d => d.DeviceId, StringComparer.Ordinal);
        var releases = new Dictionary<string, FirmwareRelease?>(StringComparer.Ordinal);
        foreach (var action in actions)
        {
            // An action outlived by a later decision (an offer to a device that has since failed, say) is dropped.
            if (!devices.TryGetValue(action.DeviceId, out var device) ||
                device.Status != (action.Kind == RolloutActionKind.Offer ? DeviceRolloutStatus.InProgress : DeviceRolloutStatus.RolledBack))
                continue;
            if (!releases.TryGetValue(action.Version, out var release))
                releases[action.Version] = release = await _store.GetReleaseAsync(action.Version, cancellationToken).ConfigureAwait(false);
            if (release is null)
            {
                LogActionDropped(_logger, action.Version, action.DeviceId, rollout.Id);
                continue;
            }
            try
            {
                await _delivery.WriteDesiredAsync(action.DeviceId, FirmwareStateContract.BuildDesired(release, rollout.Id), cancellationToken).ConfigureAwait(false);
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.DeviceNotFound)
            {
                gone.Add(action.DeviceId);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Kept in the store: the next evaluation tries again, and the device times out if it never succeeds.
                LogActionFailed(_logger, action.Kind, action.Version, action.DeviceId, rollout.Id, ErrorText.Name(ex));
                left.Add(action);
            }
        }
        return (left, gone);
    }

    private async Task ReadReportsAsync(Rollout rollout, Dictionary<string, ReportedFirmware> reports, HashSet<string> gone, CancellationToken cancellationToken)
    {
        foreach (var device in rollout.Devices)
        {
            if (device.Status != DeviceRolloutStatus.InProgress)
                continue;
            try
            {
                if (await _delivery.ReadReportedAsync(device.DeviceId, cancellationToken).ConfigureAwait(false) is { } report)
                    reports[device.DeviceId] = report;
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.DeviceNotFound)
            {
                gone.Add(device.DeviceId);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // One unreadable device must not stop the others: it counts as not reported (and times out).
                LogReportReadFailed(_logger, device.DeviceId, rollout.Id, ErrorText.Name(ex));
            }
        }
    }

    /// <summary>Fails the devices found deleted: offered ones at once, rolled-back ones because the rollback cannot reach them.</summary>
    private static (Rollout Rollout, bool Changed) MarkGone(Rollout rollout, HashSet<string> gone, DateTimeOffset now)
    {
        if (gone.Count == 0)
            return (rollout, false);
        var changed = false;
        var devices = rollout.Devices.ToArray();
        for (var i = 0; i < devices.Length; i++)
        {
            var d = devices[i];
            if (!gone.Contains(d.DeviceId) || d.Status is not (DeviceRolloutStatus.InProgress or DeviceRolloutStatus.RolledBack))
                continue;
            var error = d.Status == DeviceRolloutStatus.InProgress ? DeviceGoneError : d.Error + " " + DeviceGoneError + " It was not rolled back.";
            devices[i] = d with { Status = DeviceRolloutStatus.Failed, Error = error, UpdatedAt = now };
            changed = true;
        }
        return changed ? (rollout with { Devices = devices, UpdatedAt = now }, true) : (rollout, false);
    }

    /// <summary>A rollback needs its release in the store: without it the device stays failed, with the reason.</summary>
    private async Task<(Rollout Rollout, List<RolloutAction> Actions)> DropUnregisteredRollbacksAsync(Rollout rollout, IReadOnlyList<RolloutAction> actions, CancellationToken cancellationToken)
    {
        var kept = new List<RolloutAction>(actions.Count);
        DeviceRolloutState[]? devices = null;
        foreach (var action in actions)
        {
            if (action.Kind == RolloutActionKind.RollBack &&
                await _store.GetReleaseAsync(action.Version, cancellationToken).ConfigureAwait(false) is null)
            {
                devices ??= rollout.Devices.ToArray();
                var i = Array.FindIndex(devices, d => d.DeviceId == action.DeviceId);
                devices[i] = devices[i] with
                {
                    Status = DeviceRolloutStatus.Failed,
                    Error = devices[i].Error + $" Its previous firmware {action.Version} is not a registered release, so it cannot be rolled back.",
                };
                continue;
            }
            kept.Add(action);
        }
        return (devices is null ? rollout : rollout with { Devices = devices }, kept);
    }

    /// <summary>Rollout ids are the engine's own (<c>ro-</c> and 32 hex digits); anything outside this rule cannot be one.</summary>
    private static void ValidateRolloutId(string rolloutId)
    {
        ArgumentNullException.ThrowIfNull(rolloutId);
        if (rolloutId.Length is 0 or > 64 || !rolloutId.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            throw new ArgumentException($"Rollout id '{ErrorText.Escape(rolloutId)}' must be 1-64 characters of A-Z a-z 0-9 _ -.", nameof(rolloutId));
    }

    private static bool SameImage(FirmwareRelease a, FirmwareRelease b) =>
        a.Version == b.Version && a.Uri == b.Uri && a.Sha256 == b.Sha256 && a.SizeBytes == b.SizeBytes && a.Signature == b.Signature && a.Channel == b.Channel;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    // Event ids 100-199 (CONTRIBUTING.md, Logging). Level policy: what is retried later is a Warning, what is dropped for good an Error, a normal
    // optimistic-concurrency re-read Debug.
    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Device {DeviceId}'s firmware report cannot be read ({ErrorCode}); it cannot be rolled back in this rollout.")]
    private static partial void LogReportUnreadableAtStart(ILogger logger, string deviceId, string? errorCode);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Evaluating rollouts after a firmware report from device {DeviceId} failed; the next read of the rollout retries.")]
    private static partial void LogReportEvaluationFailed(ILogger logger, Exception exception, string deviceId);

    [LoggerMessage(EventId = 103, Level = LogLevel.Debug, Message = "Rollout {RolloutId} changed in the store during evaluation (attempt {Attempt}); reading it again.")]
    private static partial void LogConcurrentChange(ILogger logger, string rolloutId, int attempt);

    [LoggerMessage(EventId = 104, Level = LogLevel.Error, Message = "Release {Version} for device {DeviceId} in rollout {RolloutId} is no longer in the store; the action is dropped.")]
    private static partial void LogActionDropped(ILogger logger, string version, string deviceId, string rolloutId);

    [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "{Kind} of {Version} to device {DeviceId} in rollout {RolloutId} failed ({Error}); it is retried at the next evaluation.")]
    private static partial void LogActionFailed(ILogger logger, RolloutActionKind kind, string version, string deviceId, string rolloutId, string error);

    [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "Reading the firmware report of device {DeviceId} in rollout {RolloutId} failed ({Error}); it counts as not reported.")]
    private static partial void LogReportReadFailed(ILogger logger, string deviceId, string rolloutId, string error);
}
