using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Firmware releases and staged rollouts through the desired-property firmware pattern: an offer sets the twin's desired
/// <c>firmware</c> object (<see cref="FirmwareStateContract"/>), devices report <c>properties.reported.firmware</c>, and
/// <see cref="RolloutOrchestrator"/> decides waves, thresholds and rollbacks each time a rollout is read.
/// Releases and rollouts are kept in this process (IoT Hub has no place for them); a restarted service starts empty.
/// </summary>
internal sealed class AzureFirmwareService : IFirmwareService
{
    private readonly IotHubServiceClient _hub;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, FirmwareRelease> _releases = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Rollout> _rollouts = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _evaluation = new(1, 1);

    public AzureFirmwareService(IotHubServiceClient hub, TimeProvider time, ILogger? logger = null)
    {
        _hub = hub;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
    }

    public Task<FirmwareRelease> CreateReleaseAsync(FirmwareRelease release, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        release.Validate();
        var stored = release with { CreatedAt = _time.GetUtcNow() };
        if (!_releases.TryAdd(release.Version, stored))
            throw new ResourceAlreadyExistsException($"Firmware release '{release.Version}' already exists.", IotHubErrors.Provider, "ReleaseAlreadyExists");
        return Task.FromResult(stored);
    }

    public Task<FirmwareRelease> GetReleaseAsync(string version, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        return _releases.TryGetValue(version, out var release)
            ? Task.FromResult(release)
            : throw new ResourceNotFoundException($"Firmware release '{ErrorText.Escape(version)}' was not found.", IotHubErrors.Provider, "ReleaseNotFound");
    }

    public async IAsyncEnumerable<FirmwareRelease> ListReleasesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var release in _releases.Values.OrderByDescending(r => r.CreatedAt))
            yield return release;
    }

    public async Task<Rollout> StartRolloutAsync(RolloutPlan plan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        plan.Validate();
        foreach (var id in plan.DeviceIds) DeviceIdRules.Azure.Validate(id, nameof(plan));
        var release = await GetReleaseAsync(plan.ReleaseVersion, cancellationToken).ConfigureAwait(false);
        await _evaluation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var previous = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var id in plan.DeviceIds)
            {
                var twin = await _hub.GetTwinAsync(id, cancellationToken).ConfigureAwait(false);
                previous[id] = FirmwareStateContract.TryGetReported(twin["properties"]?["reported"] as JsonObject)?.Version;
            }
            var decision = RolloutOrchestrator.Start("ro-" + Guid.NewGuid().ToString("N"), plan, previous, _time.GetUtcNow());
            _rollouts[decision.Rollout.Id] = decision.Rollout;
            return await PerformAsync(decision.Rollout, decision.Actions, release, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _evaluation.Release();
        }
    }

    public async Task<Rollout> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        await _evaluation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var rollout = Find(rolloutId);
            var reports = new Dictionary<string, ReportedFirmware>(StringComparer.Ordinal);
            foreach (var device in rollout.Devices.Where(d => d.Status == DeviceRolloutStatus.InProgress))
            {
                try
                {
                    var twin = await _hub.GetTwinAsync(device.DeviceId, cancellationToken).ConfigureAwait(false);
                    if (FirmwareStateContract.TryGetReported(twin["properties"]?["reported"] as JsonObject) is { } report)
                        reports[device.DeviceId] = report;
                }
                catch (DeviceNotFoundException)
                {
                    // Deleted during the rollout: it times out and counts as failed.
                }
            }
            var decision = RolloutOrchestrator.Evaluate(rollout, reports, _time.GetUtcNow());
            if (!decision.Changed) return rollout;
            var actions = new List<RolloutAction>();
            var devices = decision.Rollout.Devices.ToArray();
            foreach (var action in decision.Actions)
            {
                if (action.Kind == RolloutActionKind.RollBack && !_releases.ContainsKey(action.Version))
                {
                    var i = Array.FindIndex(devices, d => d.DeviceId == action.DeviceId);
                    devices[i] = devices[i] with
                    {
                        Status = DeviceRolloutStatus.Failed,
                        Error = devices[i].Error + $" Its previous firmware {action.Version} is not a registered release, so it cannot be rolled back.",
                    };
                    continue;
                }
                actions.Add(action);
            }
            var result = decision.Rollout with { Devices = devices };
            _rollouts[rolloutId] = result;
            return await PerformAsync(result, actions, _releases[rollout.Plan.ReleaseVersion], cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _evaluation.Release();
        }
    }

    public async Task<Rollout> CancelRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        await _evaluation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var decision = RolloutOrchestrator.Cancel(Find(rolloutId), "Cancelled by the operator.", _time.GetUtcNow());
            _rollouts[rolloutId] = decision.Rollout;
            return decision.Rollout;
        }
        finally
        {
            _evaluation.Release();
        }
    }

    private Rollout Find(string rolloutId) =>
        _rollouts.TryGetValue(rolloutId, out var rollout)
            ? rollout
            : throw new ResourceNotFoundException($"Rollout '{ErrorText.Escape(rolloutId)}' was not found.", IotHubErrors.Provider, "RolloutNotFound");

    private async Task<Rollout> PerformAsync(Rollout rollout, IReadOnlyList<RolloutAction> actions, FirmwareRelease release, CancellationToken cancellationToken)
    {
        foreach (var action in actions)
        {
            var target = action.Kind == RolloutActionKind.Offer ? release : _releases[action.Version];
            var patch = new JsonObject
            {
                ["properties"] = new JsonObject { ["desired"] = new JsonObject { [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildDesired(target, rollout.Id) } },
            };
            try
            {
                await _hub.UpdateTwinAsync(action.DeviceId, patch, null, cancellationToken).ConfigureAwait(false);
            }
            catch (DeviceNotFoundException)
            {
                _logger.LogInformation("Device {DeviceId} in rollout {RolloutId} no longer exists.", action.DeviceId, rollout.Id);
            }
        }
        return rollout;
    }
}
