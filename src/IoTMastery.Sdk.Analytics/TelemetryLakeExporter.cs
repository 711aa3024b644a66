using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Analytics;

/// <summary>
/// Exports telemetry to a data lake as Parquet files in Hive-style partitions (<c>date=YYYY-MM-DD/hour=HH/</c>, from the
/// device timestamp in UTC), exactly once per record from its own durable spool on.
/// </summary>
/// <remarks>
/// <para><b>Spool.</b> The exporter owns a durable on-disk spool (<see cref="LakeExportOptions.Spool"/>; for
/// <see cref="ILakeSink.Directory"/> by default the lake's <c>_spool</c> folder), opened by the constructor and closed by
/// <see cref="Dispose"/>. <see cref="RunAsync"/> appends each record of a channel to the spool before it asks the channel
/// for the next one, and exports from the spool. Records left in it by a crashed or cancelled exporter are exported by the
/// next exporter on the same spool directory (<see cref="RunAsync"/> or <see cref="ExportPendingAsync"/>).</para>
/// <para><b>Exactly once.</b> Spooled records have consecutive positions and an acknowledged mark that survives crashes.
/// The exporter reads up to <see cref="LakeExportOptions.MaxRecordsPerFile"/> records from just after the mark, writes one
/// file per partition named after the partition and the position of its first record in the batch
/// (<c>part-{position:D20}.parquet</c>), and acknowledges the batch only after every file of it was durably written. A
/// crash before the acknowledgement makes the next run read from the same position, so it writes the same keys again and
/// the sink replaces them: no record is lost, none appears twice.</para>
/// <para><b>Memory.</b> At most <see cref="LakeExportOptions.MaxRecordsPerFile"/> records and the Parquet bytes of one
/// file are held at once. One exporter per spool (a second one on the same directory is refused); its methods must not
/// run concurrently.</para>
/// </remarks>
public sealed partial class TelemetryLakeExporter : IDisposable
{
    private static readonly TimeSpan MaxPoll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    /// <summary>The spool folder inside a directory lake when <see cref="LakeExportOptions.Spool"/> is not set.</summary>
    internal const string DefaultSpoolFolder = "_spool";

    private readonly ILakeSink _sink;
    private readonly LakeExportOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ParquetTelemetryWriter _writer;
    private readonly TelemetryOutbox _spool;
    private readonly MemoryStream _file = new();
    private TelemetryRecord[] _batch = [];
    private long[] _hours = [];
    private int[] _indexes = [];
    private long _recordsExported;
    private long _filesWritten;
    private bool _disposed;

    /// <summary>
    /// Creates an exporter writing to <paramref name="sink"/> and opens its spool, recovering what a previous exporter on
    /// the same spool left pending.
    /// </summary>
    /// <param name="sink">Where the files go.</param>
    /// <param name="options">Spool, file size, row groups, compression and flushing; <see cref="LakeExportOptions"/>'s defaults when null.</param>
    /// <param name="timeProvider">Clock for <c>received_time</c>, the flush interval, retry waits and the spool's group commit; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="logger">Receives failed writes (with the sink's description, never credentials).</param>
    /// <exception cref="ArgumentException">An option is out of range, or <see cref="LakeExportOptions.Spool"/> is not set for a sink other than <see cref="ILakeSink.Directory"/>.</exception>
    /// <exception cref="IOException">The spool directory is in use by another exporter, or cannot be read or written.</exception>
    public TelemetryLakeExporter(ILakeSink sink, LakeExportOptions? options = null, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(sink);
        options ??= new LakeExportOptions();
        options.Validate();
        // Only a directory lake has an obvious home for the spool; an object store or a custom sink must name one.
        var spool = options.Spool
            ?? (sink is LocalDirectoryLakeSink directory
                ? new TelemetryOutboxOptions { Directory = Path.Combine(directory.Root, DefaultSpoolFolder) }
                : throw new ArgumentException(
                    $"{nameof(LakeExportOptions)}.{nameof(LakeExportOptions.Spool)} must name a local directory for a sink other than {nameof(ILakeSink)}.{nameof(ILakeSink.Directory)} ({sink.Description}).",
                    nameof(options)));
        _sink = sink;
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _writer = new ParquetTelemetryWriter(options);
        _spool = TelemetryOutbox.Open(spool, _time);
    }

    /// <summary>Records written to the lake and acknowledged by this exporter.</summary>
    public long RecordsExported => Interlocked.Read(ref _recordsExported);

    /// <summary>Files written by this exporter (a file rewritten after a failure counts again).</summary>
    public long FilesWritten => Interlocked.Read(ref _filesWritten);

    /// <summary>Records in the spool that are not yet in the lake, including those a previous exporter left behind.</summary>
    /// <exception cref="ObjectDisposedException">The exporter was disposed.</exception>
    public long PendingCount
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _spool.PendingCount;
        }
    }

    /// <summary>
    /// Writes every record pending in the spool now, whatever the flush interval, and acknowledges it. Call it at
    /// shutdown to leave nothing behind, or at start to finish what a crashed exporter left.
    /// </summary>
    /// <returns>How many records were exported.</returns>
    /// <exception cref="OperationCanceledException">Cancelled; what was not acknowledged stays pending.</exception>
    /// <exception cref="ObjectDisposedException">The exporter was disposed.</exception>
    /// <remarks>A sink failure is thrown at once (the records stay pending, nothing is duplicated); <see cref="RunAsync"/> retries instead.</remarks>
    public async Task<long> ExportPendingAsync(CancellationToken cancellationToken = default)
    {
        long total = 0;
        while (true)
        {
            int exported = await ExportBatchAsync(cancellationToken).ConfigureAwait(false);
            if (exported == 0) return total;
            total += exported;
        }
    }

    /// <summary>
    /// Exports a live channel of any provider: each record is appended to the spool before the next one is requested,
    /// and the spool is exported until the channel ends or <paramref name="cancellationToken"/> is cancelled: a file as
    /// soon as <see cref="LakeExportOptions.MaxRecordsPerFile"/> records are pending, or when the oldest pending record has
    /// waited <see cref="LakeExportOptions.FlushInterval"/>. Records already pending in the spool go first.
    /// </summary>
    /// <remarks>From the spool on, records reach the lake exactly once. Before it, the channel's own guarantee holds: an
    /// in-memory channel loses what it held when the process dies; the Local provider's durable journal replays (so the
    /// lake may get a second copy of) at most the few hundred records it handed over just before a crash. A full spool
    /// pauses reading, which pushes back on the channel. A failed write is retried with a doubling delay; after
    /// <see cref="LakeExportOptions.MaxConsecutiveFailures"/> in a row the last error is thrown. Records still in the spool
    /// when it ends are exported by the next run or <see cref="ExportPendingAsync"/>.</remarks>
    /// <returns>A task that completes when the channel ends or <paramref name="cancellationToken"/> is cancelled.</returns>
    /// <exception cref="InvalidOperationException">The channel allows one reader and another is running.</exception>
    /// <exception cref="IOException">The export gave up after <see cref="LakeExportOptions.MaxConsecutiveFailures"/> failed writes (or the sink's own error type); reading the channel stops too.</exception>
    /// <exception cref="ObjectDisposedException">The exporter was disposed.</exception>
    public async Task RunAsync(ITelemetryChannel channel, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var export = ExportUntilCancelledAsync(stop.Token);
        // A failed export must end the pump even when no more telemetry arrives to notice it.
        _ = export.ContinueWith(static (_, state) =>
        {
            try { ((CancellationTokenSource)state!).Cancel(); }
            catch (ObjectDisposedException) { /* the pump already ended */ }
        }, stop, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            await foreach (var record in channel.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                while (true)
                {
                    if (export.IsCompleted) await export.ConfigureAwait(false);
                    try
                    {
                        _spool.Append(record);
                        break;
                    }
                    catch (IoTException ex) when (ex.Kind == IoTErrorKind.OutboxFull)
                    {
                        await Task.Delay(MaxPoll, _time, stop.Token).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested || export.IsFaulted)
        {
            // Stopped by the caller, or by the export's failure, which the await below throws.
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
        await export.ConfigureAwait(false);
    }

    /// <summary>Closes the spool; what it holds stays on disk for the next exporter. Call it after <see cref="RunAsync"/> ended.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _spool.Dispose();
        _file.Dispose();
    }

    /// <summary>Exports the spool until cancelled, retrying failed writes; see <see cref="RunAsync"/>.</summary>
    private async Task ExportUntilCancelledAsync(CancellationToken cancellationToken)
    {
        int failures = 0;
        DateTimeOffset? waitingSince = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            var now = _time.GetUtcNow();
            long pending = _spool.PendingCount;
            if (pending == 0) waitingSince = null;
            else waitingSince ??= now;
            TimeSpan wait = MaxPoll;
            if (pending >= _options.MaxRecordsPerFile || (waitingSince is { } since && now - since >= _options.FlushInterval))
            {
                try
                {
                    await ExportBatchAsync(cancellationToken).ConfigureAwait(false);
                    failures = 0;
                    waitingSince = _spool.PendingCount > 0 ? _time.GetUtcNow() : null;
                    continue;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    failures++;
                    Log.WriteFailed(_logger, ex, _sink.Description, failures, _options.MaxConsecutiveFailures);
                    if (failures >= _options.MaxConsecutiveFailures) ExceptionDispatchInfo.Throw(ex);
                    wait = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, _options.RetryDelay.Ticks * (1L << Math.Min(failures - 1, 20))));
                }
            }
            else if (waitingSince is { } since2)
            {
                var left = _options.FlushInterval - (now - since2);
                if (left < wait) wait = left;
            }
            try
            {
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>Reads one batch, writes its files, then acknowledges it; rewinds the source if anything fails.</summary>
    /// <returns>Records exported; 0 when nothing was pending.</returns>
    internal async Task<int> ExportBatchAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var source = _spool;
        int max = _options.MaxRecordsPerFile;
        long pending = source.PendingCount;
        if (pending <= 0) return 0;
        EnsureCapacity((int)Math.Min(max, Math.Max(pending, 1024)));
        int count = source.ReadPending(_batch.AsSpan(0, Math.Min(max, _batch.Length)), out long first);
        if (count == 0) return 0;
        try
        {
            var received = _time.GetUtcNow();
            await WritePartitionsAsync(count, first, received, cancellationToken).ConfigureAwait(false);
            // Only now: every file of the batch is durable, so the mark may pass it.
            source.Acknowledge(first + count - 1);
        }
        catch
        {
            source.Rewind();
            throw;
        }
        finally
        {
            Array.Clear(_batch, 0, count);
        }
        Interlocked.Add(ref _recordsExported, count);
        return count;
    }

    private async Task WritePartitionsAsync(int count, long first, DateTimeOffset received, CancellationToken cancellationToken)
    {
        long firstHour = LakeKeys.HourOf(_batch[0].Timestamp);
        bool oneHour = true;
        for (int i = 0; i < count; i++)
        {
            _hours[i] = LakeKeys.HourOf(_batch[i].Timestamp);
            oneHour &= _hours[i] == firstHour;
        }
        if (oneHour)
        {
            await WriteFileAsync(null, count, firstHour, first, first, received, cancellationToken).ConfigureAwait(false);
            return;
        }
        // Several hours (devices' clocks straddle an hour, or late data): one file per hour, in order of first appearance,
        // each named after its own first record, which a replay of the same batch start reproduces.
        var done = new HashSet<long>();
        for (int i = 0; i < count; i++)
        {
            long hour = _hours[i];
            if (!done.Add(hour)) continue;
            int n = 0;
            for (int j = i; j < count; j++)
                if (_hours[j] == hour) _indexes[n++] = j;
            await WriteFileAsync(_indexes, n, hour, first + i, first, received, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WriteFileAsync(int[]? indexes, int count, long hour, long filePosition, long batchFirst, DateTimeOffset received, CancellationToken cancellationToken)
    {
        _file.SetLength(0);
        await _writer.WriteAsync(_batch, indexes, count, batchFirst, received, _file, cancellationToken).ConfigureAwait(false);
        _file.Position = 0;
        await _sink.WriteAsync(LakeKeys.Key(hour, filePosition), _file, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _filesWritten);
        // A huge file's buffer is not kept for the small files that usually follow.
        if (_file.Capacity > 256 * 1024 * 1024) _file.Capacity = 0;
    }

    private void EnsureCapacity(int size)
    {
        if (_batch.Length >= size) return;
        _batch = new TelemetryRecord[size];
        _hours = new long[size];
        _indexes = new int[size];
    }
}
