using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// The durable telemetry mode (<see cref="LocalIoTOptions.TelemetryJournal"/>): the broker appends each accepted batch to a
/// <see cref="TelemetryOutbox"/> before it acknowledges the publish, and <see cref="ReadAllAsync"/> reads from that journal,
/// so telemetry a device handed over survives a crash of this process and is processed at least once.
/// </summary>
/// <remarks>
/// <para><b>Reading.</b> One reader at a time: while an enumeration of <see cref="ReadAllAsync"/> runs, another one throws
/// <see cref="InvalidOperationException"/> when it starts. A reader gets every record not yet acknowledged, oldest first,
/// including those an earlier reader (or an earlier process) received but did not finish. A record is acknowledged when the
/// reader asks for the next one, so finish with a record before moving on; the acknowledged mark is written to disk before
/// each read of the next <see cref="ReadChunk"/> records, before the reader waits and when it stops, so a crash replays at most
/// <see cref="ReadChunk"/> records that were already processed.</para>
/// <para><b>Full.</b> When an append would exceed <see cref="TelemetryOutboxOptions.MaxDiskBytes"/> the broker refuses the
/// publish (<see cref="TelemetryIntake.Full"/>) instead of acknowledging it, so the device keeps the records and retries.</para>
/// </remarks>
internal sealed partial class LocalTelemetryJournal : ITelemetryChannel, ILocalTelemetrySink, IDisposable
{
    /// <summary>Records read from disk at once; also the most already-processed records a crash can replay.</summary>
    internal const int ReadChunk = 256;

    private readonly TelemetryOutbox _outbox;
    private readonly ILogger _logger;
    private readonly Lock _signalLock = new();
    private readonly CancellationTokenSource _closing = new();
    private TaskCompletionSource _appended = NewSignal();
    private int _reading;
    private long _refused;
    private long _rejected;
    private int _disposed;

    private LocalTelemetryJournal(TelemetryOutbox outbox, ILogger logger)
    {
        _outbox = outbox;
        _logger = logger;
    }

    /// <summary>Opens (or creates) the journal and recovers what a previous process left unacknowledged.</summary>
    /// <exception cref="ArgumentException">An option is invalid, or the overflow policy would drop accepted records.</exception>
    /// <exception cref="IOException">The directory is in use by another process, or cannot be read or written.</exception>
    public static LocalTelemetryJournal Open(TelemetryOutboxOptions options, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options, nameof(options));
        return new LocalTelemetryJournal(TelemetryOutbox.Open(options, timeProvider), logger ?? NullLogger.Instance);
    }

    /// <summary>Checks that <paramref name="options"/> suit a journal: valid, and never dropping records it acknowledged to a device.</summary>
    internal static void Validate(TelemetryOutboxOptions options, string parameterName)
    {
        options.Validate();
        if (options.Overflow != BackpressureMode.FailFast)
            throw new ArgumentException(
                $"The telemetry journal must use Overflow = {nameof(BackpressureMode.FailFast)}: it refuses publishes when full, and must never drop records devices were told it accepted.",
                parameterName);
    }

    /// <summary>Records on disk not yet acknowledged by a reader.</summary>
    public long PendingCount => _outbox.PendingCount;

    /// <summary>Bytes the journal's segments hold, bounded by <see cref="TelemetryOutboxOptions.MaxDiskBytes"/>.</summary>
    public long DiskBytes => _outbox.DiskBytes;

    /// <summary>Records of publishes refused because the journal was full; the devices still hold them.</summary>
    public long RefusedRecords => Interlocked.Read(ref _refused);

    /// <summary>Records or batches the broker refused: malformed, or claiming another device's id.</summary>
    public long RejectedRecords => Interlocked.Read(ref _rejected);

    /// <inheritdoc />
    public TelemetryIntake Accept(IReadOnlyList<TelemetryRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0) return TelemetryIntake.Accepted;
        try
        {
            _outbox.AppendBatch(records is List<TelemetryRecord> list ? CollectionsMarshal.AsSpan(list) : records.ToArray());
        }
        catch (IoTException ex) when (ex.Kind == IoTErrorKind.OutboxFull)
        {
            Interlocked.Add(ref _refused, records.Count);
            return TelemetryIntake.Full;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            Log.StoreFailed(_logger, ex, records.Count);
            return TelemetryIntake.Failed;
        }
        Signal();
        return TelemetryIntake.Accepted;
    }

    /// <inheritdoc />
    public void CountRejected(int count) => Interlocked.Add(ref _rejected, count);

    /// <summary>
    /// Streams the journal's unacknowledged records, oldest first, then new ones as devices publish them; ends when the
    /// provider is disposed. A record is acknowledged when the next one is requested.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another enumeration is running (durable mode allows one reader).</exception>
    public async IAsyncEnumerable<TelemetryRecord> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _reading, 1, 0) != 0)
            throw new InvalidOperationException("The durable telemetry journal allows one reader at a time, and another enumeration of ReadAllAsync is running; end it first.");
        var chunk = new TelemetryRecord[ReadChunk];
        long processed = 0;
        try
        {
            // Records an earlier reader received but did not finish come first.
            if (!TryRun(_outbox.Rewind)) yield break;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
            while (true)
            {
                // Taken before reading, so an append between the read and the wait is not missed.
                Task appended;
                lock (_signalLock) appended = _appended.Task;
                Acknowledge(processed);
                if (!TryRead(chunk, out int count, out long first)) yield break;
                if (count == 0)
                {
                    if (!await WaitForAppendAsync(appended, stop.Token, cancellationToken).ConfigureAwait(false)) yield break;
                    continue;
                }
                for (int i = 0; i < count; i++)
                {
                    yield return chunk[i];
                    processed = first + i;
                }
                Array.Clear(chunk, 0, count);
            }
        }
        finally
        {
            Acknowledge(processed);
            Volatile.Write(ref _reading, 0);
        }
    }

    /// <summary>Stops readers and closes the journal; unacknowledged records stay on disk for the next start.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Not disposed: a reader may still be linking to its token.
        _closing.Cancel();
        try
        {
            _outbox.Dispose();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.SyncOnCloseFailed(_logger, ex);
        }
    }

    /// <summary>Waits for the next append; false when the journal closed, throws when the reader cancelled.</summary>
    private static async Task<bool> WaitForAppendAsync(Task appended, CancellationToken stop, CancellationToken reader)
    {
        try
        {
            await appended.WaitAsync(stop).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!reader.IsCancellationRequested)
        {
            return false;
        }
    }

    private bool TryRead(TelemetryRecord[] chunk, out int count, out long first)
    {
        try
        {
            count = _outbox.ReadPending(chunk, out first);
            return true;
        }
        catch (ObjectDisposedException)
        {
            // The provider is shutting down: the stream ends; nothing read here was acknowledged.
            count = 0;
            first = 0;
            return false;
        }
    }

    private static bool TryRun(Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private void Acknowledge(long sequence)
    {
        if (sequence <= 0) return;
        try
        {
            _outbox.Acknowledge(sequence);
        }
        catch (ObjectDisposedException)
        {
            // Closed under the reader: the mark is lost and these records are replayed, which at-least-once allows.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.AcknowledgementFailed(_logger, ex, sequence);
        }
    }

    private void Signal()
    {
        TaskCompletionSource fired;
        lock (_signalLock)
        {
            fired = _appended;
            _appended = NewSignal();
        }
        fired.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
