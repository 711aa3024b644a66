namespace IoTMastery.Sdk.Providers;

/// <summary>
/// Durable vulnerability advisories beside the firmware releases and rollouts they are checked against, for
/// <see cref="SecurityPatching"/>. <see cref="SqliteFirmwareStore"/> implements it in the same file (or the Local
/// provider's database), so a store opened on a provider's firmware store file sees that provider's releases and rollouts.
/// Implementations must be thread-safe.
/// </summary>
internal interface IAdvisoryStore
{
    /// <summary>
    /// Adds the advisory, or replaces the stored one with the same id when this one's <see cref="FirmwareAdvisory.Modified"/>
    /// is the same or newer; the first import's <see cref="FirmwareAdvisory.ImportedAt"/> is kept. Returns what is stored.
    /// </summary>
    Task<FirmwareAdvisory> UpsertAdvisoryAsync(FirmwareAdvisory advisory, CancellationToken cancellationToken = default);

    /// <summary>Reads an advisory; <see langword="null"/> when unknown.</summary>
    Task<FirmwareAdvisory?> GetAdvisoryAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Every advisory, by id.</summary>
    Task<IReadOnlyList<FirmwareAdvisory>> ListAdvisoriesAsync(CancellationToken cancellationToken = default);

    /// <summary>Every rollout in the store (finished ones too), oldest first, for time-to-patch figures.</summary>
    Task<IReadOnlyList<Rollout>> ListRolloutsAsync(CancellationToken cancellationToken = default);

    /// <summary>Reads a release; <see langword="null"/> when none has this version.</summary>
    Task<FirmwareRelease?> GetReleaseAsync(string version, CancellationToken cancellationToken = default);

    /// <summary>Lists releases, newest first.</summary>
    IAsyncEnumerable<FirmwareRelease> ListReleasesAsync(CancellationToken cancellationToken = default);
}
