using System.Collections.ObjectModel;
using IoTMastery.Sdk.Providers;

namespace IoTMastery.Sdk;

/// <summary>
/// Security patching on any provider: imports OSV advisories into the provider's firmware store, links each to the release
/// that fixes it, and computes the fleet's <see cref="ComplianceReport"/> through the provider's neutral registry and state
/// services. Open the store on the provider's firmware store file (<c>FirmwareStorePath</c>, or Local's
/// <c>DatabasePath</c>) so it sees the releases and rollouts the provider wrote; patch with
/// <see cref="IFirmwareService.StartRolloutAsync"/> as usual. Create one with <see cref="Open"/> and dispose it when done.
/// </summary>
/// <remarks>
/// A report reads every device's state once (one call per device), so on a large cloud fleet it costs that many reads.
/// Time-to-patch is measured from the advisory's first import to the rollout's recorded success of each device that went
/// from an affected version to an unaffected release; a success before the import counts as zero.
/// </remarks>
public sealed class SecurityPatching : IDisposable
{
    private static readonly TimeSpan Day = TimeSpan.FromHours(24);
    private static readonly TimeSpan Week = TimeSpan.FromDays(7);

    private readonly IIoTProvider _provider;
    private readonly IAdvisoryStore _store;
    private readonly TimeProvider _time;
    private readonly IDisposable? _ownedStore;

    /// <summary>Creates the service over a store the caller owns (tests and providers; applications use <see cref="Open"/>).</summary>
    /// <param name="provider">The provider whose devices are reported on.</param>
    /// <param name="store">Where advisories live, beside the provider's releases and rollouts.</param>
    /// <param name="timeProvider">The clock for import times and the report; defaults to the system clock.</param>
    internal SecurityPatching(IIoTProvider provider, IAdvisoryStore store, TimeProvider? timeProvider = null)
        : this(provider, store, timeProvider, ownedStore: null)
    {
    }

    private SecurityPatching(IIoTProvider provider, IAdvisoryStore store, TimeProvider? timeProvider, IDisposable? ownedStore)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(store);
        _provider = provider;
        _store = store;
        _time = timeProvider ?? TimeProvider.System;
        _ownedStore = ownedStore;
    }

    /// <summary>
    /// Opens security patching for <paramref name="provider"/> on its firmware store file: Local's <c>DatabasePath</c>, or the
    /// <c>FirmwareStorePath</c> of an AWS, Azure or GCP-style provider, so advisories sit beside the releases and rollouts the
    /// provider wrote. The file is opened (and its schema created) now; dispose the result to close it.
    /// </summary>
    /// <param name="provider">The provider whose devices are reported on.</param>
    /// <param name="firmwareStorePath">The provider's firmware store file.</param>
    /// <param name="timeProvider">The clock for import times and the report; defaults to the system clock.</param>
    /// <exception cref="ArgumentException"><paramref name="firmwareStorePath"/> is empty.</exception>
    public static SecurityPatching Open(IIoTProvider provider, string firmwareStorePath, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentException.ThrowIfNullOrWhiteSpace(firmwareStorePath);
        var store = new SqliteFirmwareStore(firmwareStorePath);
        return new SecurityPatching(provider, store, timeProvider, store);
    }

    /// <summary>Closes the firmware store file when this instance opened it (<see cref="Open"/>).</summary>
    public void Dispose() => _ownedStore?.Dispose();

    /// <summary>
    /// Checks an OSV document (one record or an array of records, https://ossf.github.io/osv-schema/) without storing
    /// anything, so a tool can refuse a bad file before it connects anywhere. The rules are those of <see cref="ImportOsvAsync"/>.
    /// </summary>
    /// <param name="utf8">The document, at most 4 MiB and 10,000 records.</param>
    /// <returns>The advisories the document holds.</returns>
    /// <exception cref="ArgumentException">
    /// The document is too big, not strict JSON, or breaks the schema; the message names the rule and the place
    /// (a JSON path such as <c>$[0].affected[1].ranges[0].events[2]</c>).
    /// </exception>
    public static IReadOnlyList<FirmwareAdvisory> ParseOsv(ReadOnlySpan<byte> utf8) => OsvAdvisories.Parse(utf8);

    /// <summary>
    /// Imports OSV records from a stream: all of them, or none when one is malformed. Read strictly: <c>id</c>,
    /// <c>modified</c>, <c>published</c>, <c>withdrawn</c>, <c>summary</c>, <c>severity[]</c>, <c>database_specific.severity</c>,
    /// <c>affected[].ranges[]</c> (<c>SEMVER</c> and <c>ECOSYSTEM</c> with semantic versions; <c>GIT</c> checked and ignored)
    /// and <c>affected[].versions[]</c>; other members are ignored, as the schema allows.
    /// </summary>
    /// <returns>The advisories as stored (a record older than the stored one with its id leaves the stored one).</returns>
    /// <exception cref="ArgumentException">The document breaks the OSV schema or a limit (the message names the rule and the JSON path); nothing is stored.</exception>
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
    /// <param name="minimumAllowedVersion">
    /// The fleet's minimum allowed firmware version, a semantic version (SemVer 2.0.0). When given, the devices that report
    /// a semantic version below it are listed in <see cref="ComplianceReport.BelowMinimumVersion"/>; devices that report no
    /// version, or one that is not semver, are never counted as below it. <see langword="null"/> for no minimum.
    /// </param>
    /// <param name="cancellationToken">Cancels the reads.</param>
    /// <exception cref="ArgumentException"><paramref name="minimumAllowedVersion"/> is empty or not a semantic version; nothing was read.</exception>
    public async Task<ComplianceReport> GetComplianceReportAsync(string? minimumAllowedVersion = null, CancellationToken cancellationToken = default)
    {
        var minimum = minimumAllowedVersion is null ? null : ParseMinimum(minimumAllowedVersion);
        var (running, count) = await ReadFleetAsync(cancellationToken).ConfigureAwait(false);
        var channels = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var release in _store.ListReleasesAsync(cancellationToken).ConfigureAwait(false))
            channels[release.Version] = release.Channel;
        var rollouts = await _store.ListRolloutsAsync(cancellationToken).ConfigureAwait(false);

        // Insertion order is the report's order (OrderedDictionary keeps it): highest semver first, then the rest by name.
        var versions = new OrderedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var group in running.Values.OfType<string>()
            .GroupBy(v => v, StringComparer.Ordinal)
            .OrderBy(g => FirmwareVersion.TryParse(g.Key, out _) ? 0 : 1)
            .ThenByDescending(g => FirmwareVersion.TryParse(g.Key, out var s) ? s : null)
            .ThenBy(g => g.Key, StringComparer.Ordinal))
            versions.Add(group.Key, group.Count());

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
            DevicesByVersion = new ReadOnlyDictionary<string, int>(versions),
            ReleaseChannels = versions.Keys.Where(channels.ContainsKey).ToDictionary(v => v, v => channels[v], StringComparer.Ordinal).AsReadOnly(),
            NotReportingVersion = running.Where(d => d.Value is null).Select(d => d.Key).Order(StringComparer.Ordinal).ToArray(),
            MinimumAllowedVersion = minimumAllowedVersion,
            BelowMinimumVersion = minimum is null ? [] : running.Where(d => IsBelow(d.Value, minimum)).Select(d => d.Key).Order(StringComparer.Ordinal).ToArray(),
            Advisories = advisories,
        };
    }

    /// <summary>
    /// The opt-in enforcement of the fleet's minimum version: disables in the registry every enabled device that reports a
    /// semantic version below <paramref name="minimumAllowedVersion"/> (a disabled device is refused at connect, so it cannot
    /// be patched over the air until enabled again). Devices that report no version, or one that is not semver, are left
    /// alone. Works on every provider. Disabling is idempotent, so a retry after a fault is safe.
    /// </summary>
    /// <param name="minimumAllowedVersion">The lowest version a device may run: a semantic version (SemVer 2.0.0).</param>
    /// <param name="deviceIds">Only these devices (a site, a cohort); <see langword="null"/> for the whole registry.</param>
    /// <param name="cancellationToken">Cancels the remaining reads and writes; devices already disabled stay disabled.</param>
    /// <returns>The devices this call disabled, by id.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="minimumAllowedVersion"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="minimumAllowedVersion"/> is empty or not a semantic version, or a device id breaks the provider's
    /// rules; nothing was read or changed.
    /// </exception>
    public Task<IReadOnlyList<string>> DisableDevicesBelowMinimumAsync(string minimumAllowedVersion, IReadOnlyCollection<string>? deviceIds = null, CancellationToken cancellationToken = default) =>
        EnforceAsync(ParseMinimum(minimumAllowedVersion), deviceIds, async (id, _, ct) =>
        {
            await _provider.Registry.DisableAsync(id, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <summary>
    /// The gentler opt-in enforcement of the fleet's minimum version: every enabled device that reports a semantic version
    /// below <paramref name="minimumAllowedVersion"/> is restricted to firmware-update traffic. It stays connected and still receives its desired state
    /// (where the firmware request travels) and may report its <c>firmware</c> object; its telemetry, command replies, other
    /// reported state and command subscriptions are refused. The restriction lifts by itself when the device reports a
    /// running version at or above the minimum (an urgent rollout of the fix does that). Restricting is idempotent.
    /// </summary>
    /// <param name="minimumAllowedVersion">The lowest version a device may run: a semantic version (SemVer 2.0.0).</param>
    /// <param name="deviceIds">Only these devices (a site, a cohort); <see langword="null"/> for the whole registry.</param>
    /// <param name="cancellationToken">Cancels the remaining reads and writes; devices already restricted stay restricted.</param>
    /// <returns>The devices restricted by this call, by id (a device whose report reached the minimum meanwhile is left out).</returns>
    /// <exception cref="NotSupportedException">
    /// The provider cannot restrict topics (<see cref="ProviderCapabilities.FirmwareOnlyRestriction"/> is false: AWS, Azure,
    /// GCP-style); nothing was read or changed. Use <see cref="DisableDevicesBelowMinimumAsync"/> there.
    /// </exception>
    /// <exception cref="ArgumentNullException"><paramref name="minimumAllowedVersion"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="minimumAllowedVersion"/> is empty or not a semantic version, or a device id breaks the provider's
    /// rules; nothing was read or changed.
    /// </exception>
    public Task<IReadOnlyList<string>> RestrictDevicesBelowMinimumAsync(string minimumAllowedVersion, IReadOnlyCollection<string>? deviceIds = null, CancellationToken cancellationToken = default)
    {
        var minimum = ParseMinimum(minimumAllowedVersion);
        // Refused rather than silently disabling: disabling cuts the device off from the fix, which the operator did not ask for.
        if (!_provider.Capabilities.FirmwareOnlyRestriction || _provider is not IFirmwareOnlyRestriction restriction)
            throw new NotSupportedException(
                $"The {_provider.Name} provider cannot restrict devices to firmware-update traffic (ProviderCapabilities.FirmwareOnlyRestriction is false); " +
                "disable them with DisableDevicesBelowMinimumAsync instead.");
        return EnforceAsync(minimum, deviceIds, (id, below, ct) => restriction.RestrictAsync(id, below, ct), cancellationToken);
    }

    /// <summary>The devices restricted to firmware-update traffic now, with the version each must reach; empty where the provider cannot restrict.</summary>
    public async Task<IReadOnlyDictionary<string, string>> ListRestrictedDevicesAsync(CancellationToken cancellationToken = default) =>
        _provider is IFirmwareOnlyRestriction restriction
            ? await restriction.ListRestrictedAsync(cancellationToken).ConfigureAwait(false)
            : new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Applies <paramref name="enforce"/> to every enabled device (of <paramref name="deviceIds"/>) below the minimum, in id order.</summary>
    private async Task<IReadOnlyList<string>> EnforceAsync(FirmwareVersion minimum, IReadOnlyCollection<string>? deviceIds,
        Func<string, FirmwareVersion, CancellationToken, Task<bool>> enforce, CancellationToken cancellationToken)
    {
        if (deviceIds is not null)
        {
            foreach (var id in deviceIds)
                _provider.DeviceIdRules.Validate(id, nameof(deviceIds));
        }
        var enforced = new List<string>();
        foreach (var (id, version) in (await ReadFleetAsync(cancellationToken, deviceIds, enabledOnly: true).ConfigureAwait(false)).Running.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            if (!IsBelow(version, minimum)) continue;
            try
            {
                if (await enforce(id, minimum, cancellationToken).ConfigureAwait(false)) enforced.Add(id);
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.DeviceNotFound)
            {
                // Deleted meanwhile: nothing to enforce.
            }
        }
        return enforced;
    }

    /// <summary>
    /// Parses a minimum allowed version up front, so a typo fails before any device is read or changed; the message quotes
    /// the value (a version is not a secret) and names the parameter.
    /// </summary>
    private static FirmwareVersion ParseMinimum(string minimumAllowedVersion)
    {
        ArgumentNullException.ThrowIfNull(minimumAllowedVersion);
        return FirmwareVersion.Parse(minimumAllowedVersion, nameof(minimumAllowedVersion));
    }

    /// <summary>Whether a device reporting <paramref name="running"/> is below <paramref name="minimum"/>; a missing or non-semver report never is.</summary>
    private static bool IsBelow(string? running, FirmwareVersion minimum) =>
        FirmwareVersion.TryParse(running, out var version) && version < minimum;

    /// <summary>Every registered device's (or each given device's) reported running version, <see langword="null"/> when it reports none.</summary>
    private async Task<(Dictionary<string, string?> Running, int Count)> ReadFleetAsync(CancellationToken cancellationToken,
        IReadOnlyCollection<string>? deviceIds = null, bool enabledOnly = false)
    {
        var running = new Dictionary<string, string?>(StringComparer.Ordinal);
        await foreach (var device in DevicesAsync(deviceIds, cancellationToken).ConfigureAwait(false))
        {
            if (enabledOnly && !device.Enabled) continue;
            try
            {
                var state = await _provider.State.GetAsync(device.Id, cancellationToken).ConfigureAwait(false);
                running[device.Id] = FirmwareStateContract.TryGetReported(state.Reported)?.Version;
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.DeviceNotFound)
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
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.DeviceNotFound)
            {
                device = null;
            }
            if (device is not null) yield return device;
        }
    }
}
