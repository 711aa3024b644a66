namespace IoTMastery.Sdk.Diagnostics;

/// <summary>
/// Traces every call of any <see cref="IFirmwareService"/>, whichever engine is inside; the span names are
/// <c>firmware.*</c>. A rollout step (start, get, which applies the rules and may advance a wave, cancel) is tagged with
/// the rollout's id, status and wave after the step.
/// </summary>
internal sealed class TracedFirmwareService(IFirmwareService inner, string provider) : TracedService(provider), IFirmwareService, IRolloutChangeSource
{
    internal IFirmwareService Inner => inner;

    public Task<FirmwareRelease> CreateReleaseAsync(FirmwareRelease release, CancellationToken cancellationToken = default) =>
        TraceAsync("firmware.create_release", null, () => inner.CreateReleaseAsync(release, cancellationToken),
            static (activity, created) => activity.SetTag(SdkActivitySource.ReleaseVersionTag, created.Version));

    public Task<FirmwareRelease> GetReleaseAsync(string version, CancellationToken cancellationToken = default) =>
        TraceAsync("firmware.get_release", null, () => inner.GetReleaseAsync(version, cancellationToken),
            static (activity, release) => activity.SetTag(SdkActivitySource.ReleaseVersionTag, release.Version));

    // A listing the caller drives, not one call: one span per page fetched, never one for the caller's whole loop.
    public IoTPageable<FirmwareRelease> ListReleasesAsync(CancellationToken cancellationToken = default) =>
        TracedPageable.Wrap(inner.ListReleasesAsync(cancellationToken), "firmware.list_releases", Provider);

    public IoTPageable<Rollout> ListRolloutsAsync(RolloutStatus? status = null, CancellationToken cancellationToken = default) =>
        TracedPageable.Wrap(inner.ListRolloutsAsync(status, cancellationToken), "firmware.list_rollouts", Provider);

    // The handle reads through this wrapper, so each read while waiting is a traced rollout step too.
    public async Task<RolloutOperation> StartRolloutAsync(RolloutPlan plan, CancellationToken cancellationToken = default) =>
        new(this, await TraceAsync("firmware.start_rollout", null, async () => (await inner.StartRolloutAsync(plan, cancellationToken).ConfigureAwait(false)).Value, TagRollout).ConfigureAwait(false));

    // Forwarded, so a handle from this wrapper is woken by the engine inside it.
    RolloutChangeSignal? IRolloutChangeSource.Changes => (inner as IRolloutChangeSource)?.Changes;

    TimeProvider IRolloutChangeSource.Time => (inner as IRolloutChangeSource)?.Time ?? TimeProvider.System;

    public Task<Rollout> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default) =>
        TraceAsync("firmware.get_rollout", null, () => inner.GetRolloutAsync(rolloutId, cancellationToken), TagRollout);

    public Task<Rollout> CancelRolloutAsync(string rolloutId, CancellationToken cancellationToken = default) =>
        TraceAsync("firmware.cancel_rollout", null, () => inner.CancelRolloutAsync(rolloutId, cancellationToken), TagRollout);

    private static void TagRollout(System.Diagnostics.Activity activity, Rollout rollout)
    {
        activity.SetTag(SdkActivitySource.RolloutIdTag, rollout.Id);
        activity.SetTag(SdkActivitySource.ReleaseVersionTag, rollout.Plan.ReleaseVersion);
        activity.SetTag(SdkActivitySource.RolloutStatusTag, rollout.Status.ToString());
        activity.SetTag(SdkActivitySource.RolloutWaveTag, rollout.CurrentWave);
    }
}
