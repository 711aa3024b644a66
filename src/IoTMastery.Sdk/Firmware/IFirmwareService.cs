namespace IoTMastery.Sdk;

/// <summary>Fleet side: firmware releases and staged rollouts that advance, stop and roll back by rule.</summary>
public interface IFirmwareService
{
    /// <summary>
    /// Registers a release. Registering the identical release again (same version, URI, digest, size and signature, say a
    /// retry whose answer was lost) succeeds and returns the stored one.
    /// </summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.AlreadyExists"/>: A release with this version exists with a different image, signature or channel.</exception>
    Task<FirmwareRelease> CreateReleaseAsync(FirmwareRelease release, CancellationToken cancellationToken = default);

    /// <summary>Reads a release.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.NotFound"/>: No such release.</exception>
    Task<FirmwareRelease> GetReleaseAsync(string version, CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists releases, newest first: <c>await foreach</c> for all, or <see cref="IoTPageable{T}.AsPages"/> for pages
    /// (100 by default) and a continuation token to resume from.
    /// </summary>
    IoTPageable<FirmwareRelease> ListReleasesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts a rollout: the first wave is offered the release at once. The returned handle holds the rollout as started
    /// (<see cref="RolloutOperation.Value"/>) and waits for its end with <see cref="RolloutOperation.WaitForCompletionAsync(IProgress{Rollout}, CancellationToken)"/>.
    /// </summary>
    Task<RolloutOperation> StartRolloutAsync(RolloutPlan plan, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads a rollout after applying its rules to the latest device reports and the current time
    /// (advancing, timing out, stopping or completing it as due).
    /// </summary>
    Task<Rollout> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists rollouts, newest first, as last stored (unlike <see cref="GetRolloutAsync"/> this applies no rules, so listing
    /// never advances a rollout): <c>await foreach</c> for all, or <see cref="IoTPageable{T}.AsPages"/> for pages (100 by
    /// default) and a continuation token to resume from.
    /// </summary>
    /// <param name="status">Only rollouts in this status, when set.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    IoTPageable<Rollout> ListRolloutsAsync(RolloutStatus? status = null, CancellationToken cancellationToken = default);

    /// <summary>Cancels a rollout: no further devices are offered the release.</summary>
    Task<Rollout> CancelRolloutAsync(string rolloutId, CancellationToken cancellationToken = default);
}
