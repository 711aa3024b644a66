using System.Collections.Concurrent;
using System.Text.Json;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Where the telemetry reader keeps its per-partition position, so a restarted reader resumes after the last event it delivered.
/// Internal: users choose a store with <see cref="AzureEventHubOptions.CheckpointDirectory"/> (a file there, or memory). It is
/// no extension point on purpose: the reader reads every partition in one process without partition ownership, so a store
/// shared by several processes would mix their positions; scale-out readers belong on EventProcessorClient with its blob store.
/// </summary>
internal interface ITelemetryCheckpointStore
{
    /// <summary>The sequence number of the last event delivered from <paramref name="partitionId"/>, or <see langword="null"/> when none was.</summary>
    Task<long?> GetAsync(string partitionId, CancellationToken cancellationToken = default);

    /// <summary>Records that every event of <paramref name="partitionId"/> up to <paramref name="sequenceNumber"/> was delivered.</summary>
    Task SetAsync(string partitionId, long sequenceNumber, CancellationToken cancellationToken = default);
}

/// <summary>Checkpoints in a small JSON file (written atomically by replace); one file per consumer group and hub.</summary>
internal sealed class FileTelemetryCheckpointStore : ITelemetryCheckpointStore
{
    private readonly string _path;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Dictionary<string, long>? _positions;

    /// <summary>Creates a store backed by <paramref name="path"/>; the file is created on the first checkpoint.</summary>
    public FileTelemetryCheckpointStore(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = Path.GetFullPath(path);
    }

    /// <inheritdoc />
    /// <exception cref="IoTException">The file is not valid checkpoint JSON (<c>CorruptCheckpoint</c>).</exception>
    public async Task<long?> GetAsync(string partitionId, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return (await LoadAsync(cancellationToken).ConfigureAwait(false)).TryGetValue(partitionId, out var n) ? n : null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async Task SetAsync(string partitionId, long sequenceNumber, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var positions = await LoadAsync(cancellationToken).ConfigureAwait(false);
            positions[partitionId] = sequenceNumber;
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            var temp = _path + ".tmp";
            await File.WriteAllBytesAsync(temp, JsonSerializer.SerializeToUtf8Bytes(positions), cancellationToken).ConfigureAwait(false);
            File.Move(temp, _path, overwrite: true);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<Dictionary<string, long>> LoadAsync(CancellationToken cancellationToken)
    {
        if (_positions is not null) return _positions;
        if (!File.Exists(_path)) return _positions = [];
        try
        {
            return _positions = JsonSerializer.Deserialize<Dictionary<string, long>>(await File.ReadAllBytesAsync(_path, cancellationToken).ConfigureAwait(false)) ?? [];
        }
        catch (JsonException ex)
        {
            // Guessing a position would silently skip or replay telemetry: the operator decides.
            throw new IoTException(IoTErrorKind.Unknown, $"The telemetry checkpoint file '{_path}' is not a JSON object of partition ids and sequence numbers; repair it, or delete it to start from the configured position.",
                IotHubErrors.Provider, "CorruptCheckpoint", innerException: ex);
        }
    }
}

/// <summary>Checkpoints kept in memory only: a new process starts from the configured start position.</summary>
internal sealed class InMemoryTelemetryCheckpointStore : ITelemetryCheckpointStore
{
    private readonly ConcurrentDictionary<string, long> _positions = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public Task<long?> GetAsync(string partitionId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_positions.TryGetValue(partitionId, out var n) ? n : (long?)null);

    /// <inheritdoc />
    public Task SetAsync(string partitionId, long sequenceNumber, CancellationToken cancellationToken = default)
    {
        _positions[partitionId] = sequenceNumber;
        return Task.CompletedTask;
    }
}
