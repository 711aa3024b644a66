using IoTMastery.Sdk.Providers;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk;

/// <summary>
/// The rules behind the cloud providers' <c>FirmwareStorePath</c> and <c>FirmwareStore</c> options, written once:
/// a given store wins; otherwise a <see cref="SqliteFirmwareStore"/> at the path, by default a file under
/// LocalApplicationData/IoTMastery named after the endpoint, so processes managing one fleet on a machine share it.
/// </summary>
internal static class FirmwareStoreOptions
{
    /// <summary>Checks a configured path; throws <see cref="ArgumentException"/> naming the rule.</summary>
    public static void ValidatePath(string? path, string optionName)
    {
        if (path is null) return;
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException($"{optionName} must be a file path when set, not blank.", optionName);
        if (path.IndexOfAny(Path.GetInvalidPathChars()) >= 0 || path.Contains('\0'))
            throw new ArgumentException($"{optionName} contains characters not allowed in a path.", optionName);
        if (Directory.Exists(path))
            throw new ArgumentException($"{optionName} must name a file, but '{ErrorText.Escape(path, 256)}' is a folder.", optionName);
    }

    /// <summary>The default file for an endpoint identity such as a hub host name, a region and endpoint, or a project and registry.</summary>
    public static string DefaultPath(string identity)
    {
        var root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        if (string.IsNullOrEmpty(root))
            throw new InvalidOperationException("No LocalApplicationData folder is known for this user; set FirmwareStorePath (or FirmwareStore) in the provider options.");
        var name = new string(identity.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? char.ToLowerInvariant(c) : '_').ToArray());
        return Path.Combine(root, "IoTMastery", "firmware-" + name + ".db");
    }

    /// <summary>
    /// The store to use, and whether the provider owns it (and so disposes it). The default file is opened at the first
    /// firmware call, so a provider that never uses firmware creates no file.
    /// </summary>
    public static (IFirmwareStore Store, IDisposable? Owned) Resolve(IFirmwareStore? store, string? path, string identity, ILogger logger)
    {
        if (store is not null) return (store, null);
        var opened = new LazySqliteFirmwareStore(() => new SqliteFirmwareStore(path ?? DefaultPath(identity), logger));
        return (opened, opened);
    }

    /// <summary>Opens the SQLite store on first use; a failed open is retried by the next call.</summary>
    private sealed class LazySqliteFirmwareStore(Func<SqliteFirmwareStore> open) : IFirmwareStore, IDisposable
    {
        private readonly Lock _lock = new();
        private SqliteFirmwareStore? _store;
        private bool _disposed;

        private SqliteFirmwareStore Store
        {
            get
            {
                lock (_lock)
                {
                    ObjectDisposedException.ThrowIf(_disposed, this);
                    return _store ??= open();
                }
            }
        }

        public Task<FirmwareRelease> AddReleaseIfAbsentAsync(FirmwareRelease release, CancellationToken cancellationToken = default) => Store.AddReleaseIfAbsentAsync(release, cancellationToken);

        public Task<FirmwareRelease?> GetReleaseAsync(string version, CancellationToken cancellationToken = default) => Store.GetReleaseAsync(version, cancellationToken);

        public Task<(IReadOnlyList<FirmwareRelease> Items, string? NextCursor)> ListReleasesPageAsync(string? afterVersion, int pageSize, CancellationToken cancellationToken = default) =>
            Store.ListReleasesPageAsync(afterVersion, pageSize, cancellationToken);

        public Task<(IReadOnlyList<Rollout> Items, string? NextCursor)> ListRolloutsPageAsync(string? afterRolloutId, RolloutStatus? status, int pageSize, CancellationToken cancellationToken = default) =>
            Store.ListRolloutsPageAsync(afterRolloutId, status, pageSize, cancellationToken);

        public Task AddRolloutAsync(Rollout rollout, IReadOnlyList<RolloutAction> pendingActions, CancellationToken cancellationToken = default) =>
            Store.AddRolloutAsync(rollout, pendingActions, cancellationToken);

        public Task<StoredRollout?> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default) => Store.GetRolloutAsync(rolloutId, cancellationToken);

        public Task<bool> TryUpdateRolloutAsync(Rollout rollout, IReadOnlyList<RolloutAction> pendingActions, long expectedRevision, CancellationToken cancellationToken = default) =>
            Store.TryUpdateRolloutAsync(rollout, pendingActions, expectedRevision, cancellationToken);

        public Task<IReadOnlyList<string>> ListUnfinishedRolloutIdsAsync(CancellationToken cancellationToken = default) => Store.ListUnfinishedRolloutIdsAsync(cancellationToken);

        public void Dispose()
        {
            lock (_lock)
            {
                _disposed = true;
                _store?.Dispose();
            }
        }
    }
}
