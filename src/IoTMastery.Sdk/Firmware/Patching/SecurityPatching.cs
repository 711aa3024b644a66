using IoTMastery.Sdk.Providers;

namespace IoTMastery.Sdk;

/// <summary>
/// Security patching on any provider: imports OSV advisories into an <see cref="IAdvisoryStore"/>, links each to the release
/// that fixes it, and computes the fleet's <see cref="ComplianceReport"/> through the provider's neutral registry and state
/// services. Open the store on the provider's firmware store file (<c>FirmwareStorePath</c>, or Local's
/// <c>DatabasePath</c>) so it sees the releases and rollouts the provider wrote; patch with
/// <see cref="IFirmwareService.StartRolloutAsync"/> as usual.
/// </summary>
/// <remarks>
/// A report reads every device's state once (one call per device), so on a large cloud fleet it costs that many reads.
/// Time-to-patch is measured from the advisory's first import to the rollout's recorded success of each device that went
/// from an affected version to an unaffected release; a success before the import counts as zero.
/// </remarks>
internal sealed class SecurityPatching
{
    private static readonly TimeSpan Day = TimeSpan.FromHours(24);
    private static readonly TimeSpan Week = TimeSpan.FromDays(7);

    private readonly IIoTProvider _provider;
    private readonly IAdvisoryStore _store;
    private readonly TimeProvider _time;

    /// <summary>Creates the service.</summary>
    /// <param name="provider">The provider whose devices are reported on.</param>
    /// <param name="store">Where advisories live, beside the provider's releases and rollouts.</param>
    /// <param name="timeProvider">The clock for import times and the report; defaults to the system clock.</param>
    public SecurityPatching(IIoTProvider provider, IAdvisoryStore store, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(store);
        _provider = provider;
        _store = store;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Imports OSV records from a stream (see <see cref="OsvAdvisories"/>): all of them, or none when one is malformed.</summary>
    /// <returns>The advisories as stored (a record older than the stored one with its id leaves the stored one).</returns>
    /// <exception cref="OsvFormatException">The document breaks the OSV schema or a limit; nothing is stored.</exception>
    public async Task<IReadOnlyList<FirmwareAdvisory>> ImportOsvAsync(Stream osv, CancellationToken cancellationToken = default)
    {
        var parsed = await OsvAdvisories.ReadAsync(osv, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var stored = new List<FirmwareAdvisory>(parsed.Count);
        foreach (var advisory in parsed)
            stored.Add(await _store.UpsertAdvisoryAsync(advisory with { ImportedAt = now }, cancellationToken).ConfigureAwait(false));
        return stored;
    }

    /// <summary>Imports an OSV file; see <see cref="ImportOsvAsync"/>.</summary>
    public async Task<IReadOnlyList<FirmwareAdvisory>> ImportOsvFileAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, useAsync: true);
        return await ImportOsvAsync(file, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The release that fixes <paramref name="advisory"/>: the lowest registered release whose version is one of its
    /// <c>fixed</c> events; <see langword="null"/> when none is registered (yet).
    /// </summary>
    public async Task<FirmwareRelease?> FindFixedReleaseAsync(FirmwareAdvisory advisory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(advisory);
        foreach (var version in advisory.FixedVersions)
        {
            if (await _store.GetReleaseAsync(version, cancellationToken).ConfigureAwait(false) is { } release)
                return release;
        }
        return null;
    }

    /// <summary>The devices that run a version <paramref name="advisory"/> affects, by id, from their reported state.</summary>
    public async Task<IReadOnlyList<string>> FindAffectedDevicesAsync(FirmwareAdvisory advisory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(advisory);
        var (running, _) = await ReadFleetAsync(cancellationToken).ConfigureAwait(false);
        return running.Where(d => d.Value is { } v && advisory.Affects(v)).Select(d => d.Key).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Computes the compliance report now.</summary>
    /// <param name="policy">When given, devices below its minimum allowed version are flagged in the report.</param>
    /// <param name="cancellationToken">Cancels the reads.</param>
    public async Task<ComplianceReport> GetComplianceReportAsync(FleetVersionPolicy? policy = null, CancellationToken cancellationToken = default)
    {
        policy?.Validate();
        var (running, count) = await ReadFleetAsync(cancellationToken).ConfigureAwait(false);
        var channels = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var release in _store.ListReleasesAsync(cancellationToken).ConfigureAwait(false))
            channels[release.Version] = release.Channel;
        var rollouts = await _store.ListRolloutsAsync(cancellationToken).ConfigureAwait(false);

        var versions = running.Values.OfType<string>()
            .GroupBy(v => v, StringComparer.Ordinal)
            .Select(g => new VersionCount(g.Key, channels.GetValueOrDefault(g.Key), g.Count()))
            .OrderBy(v => FirmwareVersion.TryParse(v.Version, out _) ? 0 : 1)
            .ThenByDescending(v => FirmwareVersion.TryParse(v.Version, out var s) ? s : null)
            .ThenBy(v => v.Version, StringComparer.Ordinal)
            .ToArray();

        var advisories = new List<AdvisoryCompliance>();
        foreach (var advisory in await _store.ListAdvisoriesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (advisory.Withdrawn is not null) continue;
            // The earliest recorded success per device that left an affected version for an unaffected release.
            var patchedAt = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
            foreach (var rollout in rollouts.Where(r => !advisory.Affects(r.Plan.ReleaseVersion)))
            {
                foreach (var d in rollout.Devices)
                {
                    if (d.Status != DeviceRolloutStatus.Succeeded || d.PreviousVersion is not { } previous || !advisory.Affects(previous)) continue;
                    if (!patchedAt.TryGetValue(d.DeviceId, out var at) || d.UpdatedAt < at) patchedAt[d.DeviceId] = d.UpdatedAt;
                }
            }
            var delays = patchedAt.Values.Select(at => at - advisory.ImportedAt).ToArray();
            advisories.Add(new AdvisoryCompliance
            {
                Id = advisory.Id,
                Summary = advisory.Summary,
                Severity = advisory.Severity,
                FixedRelease = (await FindFixedReleaseAsync(advisory, cancellationToken).ConfigureAwait(false))?.Version,
                AffectedDevices = running.Where(d => d.Value is { } v && advisory.Affects(v)).Select(d => d.Key).Order(StringComparer.Ordinal).ToArray(),
                Patched = delays.Length,
                PatchedWithin24Hours = delays.Count(t => t <= Day),
                PatchedWithin7Days = delays.Count(t => t <= Week),
            });
        }

        return new ComplianceReport
        {
            GeneratedAt = _time.GetUtcNow(),
            DeviceCount = count,
            Versions = versions,
            NotReportingVersion = running.Where(d => d.Value is null).Select(d => d.Key).Order(StringComparer.Ordinal).ToArray(),
            MinimumAllowedVersion = policy?.MinimumAllowedVersion,
            BelowMinimumVersion = policy is null ? [] : running.Where(d => policy.IsBelow(d.Value)).Select(d => d.Key).Order(StringComparer.Ordinal).ToArray(),
            Advisories = advisories,
        };
    }

    /// <summary>
    /// The opt-in enforcement of <paramref name="policy"/>: disables in the registry every enabled device that reports a
    /// semantic version below the minimum (a disabled device is refused at connect, so it cannot be patched over the air
    /// until enabled again). Setting a status is idempotent, so a retry after a fault is safe.
    /// </summary>
    /// <param name="policy">The minimum allowed version.</param>
    /// <param name="deviceIds">Only these devices (a site, a cohort); <see langword="null"/> for the whole registry.</param>
    /// <param name="cancellationToken">Cancels the remaining reads and writes; devices already disabled stay disabled.</param>
    /// <returns>The devices this call disabled, by id.</returns>
    public async Task<IReadOnlyList<string>> DisableDevicesBelowMinimumAsync(FleetVersionPolicy policy, IReadOnlyCollection<string>? deviceIds = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        policy.Validate();
        if (deviceIds is not null)
        {
            foreach (var id in deviceIds)
                _provider.DeviceIdRules.Validate(id, nameof(deviceIds));
        }
        var disabled = new List<string>();
        foreach (var (id, version) in (await ReadFleetAsync(cancellationToken, deviceIds, enabledOnly: true).ConfigureAwait(false)).Running.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            if (!policy.IsBelow(version)) continue;
            try
            {
                await _provider.Registry.SetStatusAsync(id, DeviceStatus.Disabled, cancellationToken).ConfigureAwait(false);
                disabled.Add(id);
            }
            catch (DeviceNotFoundException)
            {
                // Deleted meanwhile: nothing to disable.
            }
        }
        return disabled;
    }

    /// <summary>Every registered device's (or each given device's) reported running version, <see langword="null"/> when it reports none.</summary>
    private async Task<(Dictionary<string, string?> Running, int Count)> ReadFleetAsync(CancellationToken cancellationToken,
        IReadOnlyCollection<string>? deviceIds = null, bool enabledOnly = false)
    {
        var running = new Dictionary<string, string?>(StringComparer.Ordinal);
        await foreach (var device in DevicesAsync(deviceIds, cancellationToken).ConfigureAwait(false))
        {
            if (enabledOnly && device.Status != DeviceStatus.Enabled) continue;
            try
            {
                var state = await _provider.State.GetAsync(device.Id, cancellationToken).ConfigureAwait(false);
                running[device.Id] = FirmwareStateContract.TryGetReported(state.Reported)?.Version;
            }
            catch (DeviceNotFoundException)
            {
                // Deleted between the listing and the read: no longer part of the fleet.
            }
        }
        return (running, running.Count);
    }

    private async IAsyncEnumerable<Device> DevicesAsync(IReadOnlyCollection<string>? deviceIds, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (deviceIds is null)
        {
            await foreach (var device in _provider.Registry.ListAsync(null, cancellationToken).ConfigureAwait(false))
                yield return device;
            yield break;
        }
        foreach (var id in deviceIds.Distinct(StringComparer.Ordinal))
        {
            Device? device;
            try
            {
                device = await _provider.Registry.GetAsync(id, cancellationToken).ConfigureAwait(false);
            }
            catch (DeviceNotFoundException)
            {
                device = null;
            }
            if (device is not null) yield return device;
        }
    }
}
