using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// Firmware through device configs and states: an offer writes the device's config document with its
/// <c>firmware</c> object (<see cref="FirmwareStateContract"/>) as a new config version (guarded by the current
/// version), and the device's latest reported state carries its <c>firmware</c> report. The shared
/// <see cref="RolloutOrchestrator"/> decides waves, thresholds and rollbacks each time a rollout is read.
/// Releases and rollouts are held in this instance's memory (not persisted across restarts). Thread-safe.
/// </summary>
public sealed class GcpFirmwareService : IFirmwareService
{
    private readonly CloudIotClient _registry;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, FirmwareRelease> _releases = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Rollout> _rollouts = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Creates the service over a registry client.</summary>
    public GcpFirmwareService(CloudIotClient registry, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        _registry = registry;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public Task<FirmwareRelease> CreateReleaseAsync(FirmwareRelease release, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        release.Validate();
        var stored = release with { CreatedAt = _time.GetUtcNow() };
        if (!_releases.TryAdd(release.Version, stored))
            throw new ResourceAlreadyExistsException($"Firmware release '{release.Version}' already exists.", GoogleApiErrors.Provider, "ReleaseAlreadyExists");
        return Task.FromResult(stored);
    }

    /// <inheritdoc />
    public Task<FirmwareRelease> GetReleaseAsync(string version, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        return _releases.TryGetValue(version, out var r) ? Task.FromResult(r)
            : throw new ResourceNotFoundException($"Firmware release '{ErrorText.Escape(version)}' was not found.", GoogleApiErrors.Provider, "ReleaseNotFound");
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<FirmwareRelease> ListReleasesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var r in _releases.Values.OrderByDescending(r => r.CreatedAt))
            yield return r;
        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<Rollout> StartRolloutAsync(RolloutPlan plan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        plan.Validate();
        foreach (var id in plan.DeviceIds) DeviceIdRules.Gcp.Validate(id, nameof(plan.DeviceIds));
        var release = await GetReleaseAsync(plan.ReleaseVersion, cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var previous = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var id in plan.DeviceIds)
                previous[id] = (await ReadReportAsync(id, cancellationToken).ConfigureAwait(false))?.Version;
            var decision = RolloutOrchestrator.Start("ro-" + Guid.NewGuid().ToString("N"), plan, previous, _time.GetUtcNow());
            _rollouts[decision.Rollout.Id] = decision.Rollout;
            await PerformAsync(decision.Rollout, decision.Actions, release, cancellationToken).ConfigureAwait(false);
            return decision.Rollout;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async Task<Rollout> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var rollout = Find(rolloutId);
            var reports = new Dictionary<string, ReportedFirmware>(StringComparer.Ordinal);
            foreach (var device in rollout.Devices.Where(d => d.Status == DeviceRolloutStatus.InProgress))
                if (await ReadReportAsync(device.DeviceId, cancellationToken).ConfigureAwait(false) is { } report)
                    reports[device.DeviceId] = report;
            var decision = RolloutOrchestrator.Evaluate(rollout, reports, _time.GetUtcNow());
            if (!decision.Changed) return rollout;
            _rollouts[rolloutId] = decision.Rollout;
            await PerformAsync(decision.Rollout, decision.Actions, await GetReleaseAsync(rollout.Plan.ReleaseVersion, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            return decision.Rollout;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async Task<Rollout> CancelRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var decision = RolloutOrchestrator.Cancel(Find(rolloutId), "Cancelled by the operator.", _time.GetUtcNow());
            _rollouts[rolloutId] = decision.Rollout;
            return decision.Rollout;
        }
        finally
        {
            _gate.Release();
        }
    }

    private Rollout Find(string id) => _rollouts.TryGetValue(id, out var r) ? r
        : throw new ResourceNotFoundException($"Rollout '{ErrorText.Escape(id)}' was not found.", GoogleApiErrors.Provider, "RolloutNotFound");

    private async Task PerformAsync(Rollout rollout, IReadOnlyList<RolloutAction> actions, FirmwareRelease release, CancellationToken cancellationToken)
    {
        foreach (var action in actions)
        {
            var target = action.Kind == RolloutActionKind.Offer ? release
                : _releases.TryGetValue(action.Version, out var previous) ? previous : null;
            if (target is null) continue; // An unregistered previous release cannot be re-offered; the device stays failed.
            await WriteDesiredFirmwareAsync(action.DeviceId, FirmwareStateContract.BuildDesired(target, rollout.Id), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Merges the firmware object into the latest config and writes it as the next version.</summary>
    private async Task WriteDesiredFirmwareAsync(string deviceId, JsonObject firmware, CancellationToken cancellationToken)
    {
        var latest = (await _registry.ListConfigVersionsAsync(deviceId, 1, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
        var document = latest is null ? new JsonObject() : GcpStateService.ParseObject(CloudIotClient.BinaryData(latest));
        document[FirmwareStateContract.PropertyName] = firmware;
        // Never 0 for a garbled version: 0 would make the write unconditional. long.Parse threw FormatException/InvalidOperationException here.
        long version = latest is null ? 0 : latest["version"] is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String
            && long.TryParse(v.GetValue<string>(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 ? n
            : throw new IoTException($"Cloud IoT sent a config of '{deviceId}' without a valid version.", GoogleApiErrors.Provider, "INVALID_RESPONSE");
        // Devices read the version from the document: the bridge delivers config bytes without it.
        document[GcpStateService.VersionProperty] = version + 1;
        await _registry.ModifyCloudToDeviceConfigAsync(deviceId, Encoding.UTF8.GetBytes(document.ToJsonString()), version, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ReportedFirmware?> ReadReportAsync(string deviceId, CancellationToken cancellationToken)
    {
        try
        {
            var states = await _registry.ListStatesAsync(deviceId, 1, cancellationToken).ConfigureAwait(false);
            if (states.Count == 0) return null;
            // ParseObject, not JsonNode.Parse: a state that is not JSON threw JsonException out of the rollout loop.
            return FirmwareStateContract.TryGetReported(GcpStateService.ParseObject(CloudIotClient.BinaryData(states[0])));
        }
        catch (ResourceNotFoundException)
        {
            throw new DeviceNotFoundException(deviceId, GoogleApiErrors.Provider, "NOT_FOUND");
        }
    }
}
