namespace IoTMastery.Sdk.Providers;

/// <summary>A rollout as stored: its state, the actions decided but not yet performed, and the revision guarding updates.</summary>
/// <param name="Rollout">The rollout as last persisted.</param>
/// <param name="PendingActions">Offers and rollbacks persisted with the decision that produced them and not yet confirmed as performed.</param>
/// <param name="Revision">Raised by one on every successful <see cref="IFirmwareStore.TryUpdateRolloutAsync"/>; 1 when added.</param>
internal sealed record StoredRollout(Rollout Rollout, IReadOnlyList<RolloutAction> PendingActions, long Revision);

/// <summary>
/// Durable firmware releases and rollouts for the shared firmware engine behind every provider's
/// <see cref="IFirmwareService"/>. The engine persists each rollout decision together with the actions it still has to
/// perform before performing them, so a store that survives the process makes rollouts survive it too.
/// <see cref="SqliteFirmwareStore"/> is the default; implement this to keep firmware state in a shared database, so
/// several managing processes can run one fleet (updates are compare-and-swap on <see cref="StoredRollout.Revision"/>).
/// Implementations must be thread-safe.
/// </summary>
internal interface IFirmwareStore
{
    /// <summary>Adds <paramref name="release"/> unless a release with its version exists; returns the stored release (the existing one, unchanged, if there was one).</summary>
    Task<FirmwareRelease> AddReleaseIfAbsentAsync(FirmwareRelease release, CancellationToken cancellationToken = default);

    /// <summary>Reads a release; <see langword="null"/> when none has this version.</summary>
    Task<FirmwareRelease?> GetReleaseAsync(string version, CancellationToken cancellationToken = default);

    /// <summary>
    /// One page of releases, newest first, after the release whose version is <paramref name="afterVersion"/>
    /// (<see langword="null"/> for the first page); the next cursor is the page's last version, <see langword="null"/> on the last page.
    /// </summary>
    Task<(IReadOnlyList<FirmwareRelease> Items, string? NextCursor)> ListReleasesPageAsync(string? afterVersion, int pageSize, CancellationToken cancellationToken = default);

    /// <summary>
    /// One page of rollouts, newest first, optionally only those in <paramref name="status"/>, after the rollout with id
    /// <paramref name="afterRolloutId"/>; the next cursor is the page's last id, <see langword="null"/> on the last page.
    /// </summary>
    Task<(IReadOnlyList<Rollout> Items, string? NextCursor)> ListRolloutsPageAsync(string? afterRolloutId, RolloutStatus? status, int pageSize, CancellationToken cancellationToken = default);

    /// <summary>Adds a new rollout at revision 1 with the actions its start still has to perform.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.AlreadyExists"/>: A rollout with this id exists.</exception>
    Task AddRolloutAsync(Rollout rollout, IReadOnlyList<RolloutAction> pendingActions, CancellationToken cancellationToken = default);

    /// <summary>Reads a rollout with its pending actions and revision; <see langword="null"/> when unknown.</summary>
    Task<StoredRollout?> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the rollout and its pending actions, atomically, if its revision is still <paramref name="expectedRevision"/>
    /// (the revision becomes <paramref name="expectedRevision"/> + 1); returns <see langword="false"/> and changes nothing
    /// when another writer got there first.
    /// </summary>
    Task<bool> TryUpdateRolloutAsync(Rollout rollout, IReadOnlyList<RolloutAction> pendingActions, long expectedRevision, CancellationToken cancellationToken = default);

    /// <summary>
    /// The ids of rollouts that may still change: in progress, with a device still in progress (a stopped or cancelled
    /// rollout still tracks devices already offered the release) or with pending actions.
    /// </summary>
    Task<IReadOnlyList<string>> ListUnfinishedRolloutIdsAsync(CancellationToken cancellationToken = default);
}
