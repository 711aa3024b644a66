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
public sealed class SecurityPatching
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
    public async Task<ComplianceReport> GetComplianceReportAsync(CancellationToken cancellationToken = default)
    {
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
            Advisories = advisories,
        };
    }

    /// <summary>Every registered device's reported running version (<see langword="null"/> when it reports none).</summary>
    private async Task<(Dictionary<string, string?> Running, int Count)> ReadFleetAsync(CancellationToken cancellationToken)
    {
        var running = new Dictionary<string, string?>(StringComparer.Ordinal);
        await foreach (var device in _provider.Registry.ListAsync(null, cancellationToken).ConfigureAwait(false))
        {
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
}
