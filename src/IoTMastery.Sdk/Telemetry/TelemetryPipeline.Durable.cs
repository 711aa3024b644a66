using System.Runtime.ExceptionServices;

namespace IoTMastery.Sdk;

// Durable mode: intake appends to the outbox (group commit), the batcher reads the outbox, the sender acknowledges it.
internal sealed partial class TelemetryPipeline
{
    private const int StageCapacity = 4096;
    private const int ReadChunkCapacity = 4096;

    private readonly TelemetryOutbox? _outbox;

    // Group commit (TelemetryPipeline.GroupCommit.cs): a WriteAsync that finds no append under way appends its record
    // itself; one that finds an append under way stages its record and a pooled waiter, and a drain work item appends
    // every staged record with one AppendBatch (one write, one fsync when FsyncInterval is zero) and completes the waiters.
    private readonly object _stageGate = new();
    private TelemetryRecord[] _stage = [];
    private GroupWaiter[] _stageWaiters = [];
    private TelemetryRecord[] _stageSpare = [];
    private GroupWaiter[] _stageWaitersSpare = [];
    private int _stageCount;
    private bool _appending;
    private int _directWriters;
    private readonly Stack<GroupWaiter> _waiterPool = new();

    // Batcher side.
    private readonly TelemetryRecord[] _readChunk = [];
    private int _epoch;
    private int _batcherEpoch;
    private long _openFirst;
    private long _nextExpected;
    private long _closeTarget = long.MaxValue;

    // Sender side (under _sendGate): flushes wait for the outbox's acknowledged mark to reach their target.
    private readonly List<(long Target, TaskCompletionSource<long> Done)> _durableFlushes = [];
    private int _durableFlushCount;
    private bool _outboxClosed;
    private long _ackedSequence;
    private int _retryCycle;

    /// <summary>
    /// Writes records in order, as <see cref="WriteAsync"/> would one by one. In durable mode they are appended with one
    /// <see cref="TelemetryOutbox.AppendBatch"/> (one write, and one fsync with a <see cref="TelemetryOutboxOptions.FsyncInterval"/> of zero) and
    /// all are accepted together when this completes; the fastest way for one producer to feed a durable pipeline.
    /// </summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.QueueFull"/>: The queue (or outbox) is full in <see cref="BackpressureMode.FailFast"/> mode; in durable mode none was accepted.</exception>
    /// <exception cref="ArgumentException">A record is <c>default</c>, or a name is too long for the outbox; in durable mode none was accepted.</exception>
    /// <exception cref="ObjectDisposedException">The pipeline is disposed.</exception>
    public async ValueTask WriteBatchAsync(ReadOnlyMemory<TelemetryRecord> records, CancellationToken cancellationToken = default)
    {
        if (_outbox is null)
        {
            for (int i = 0; i < records.Length; i++) await WriteAsync(records.Span[i], cancellationToken).ConfigureAwait(false);
            return;
        }
        foreach (ref readonly var record in records.Span) if (!record.IsInitialized) ThrowUninitialized();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Task room;
            using (_gate.Enter())
            {
                ObjectDisposedException.ThrowIf(_closed, this);
                room = (_roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            try
            {
                // Straight to the outbox: its lock orders this batch against the group commits of other writers.
                _outbox.AppendBatch(records.Span);
                _intakeSignal.Set();
                return;
            }
            catch (IoTException full) when (full.Kind == IoTErrorKind.OutboxFull && _mode != BackpressureMode.DropOldest)
            {
                if (_mode == BackpressureMode.FailFast)
                    throw IoTException.QueueFull($"The pipeline fails fast: {full.Message}", full);
            }
            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask WaitForOutboxRoomAsync(TelemetryRecord record, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Task room;
            using (_gate.Enter())
            {
                ObjectDisposedException.ThrowIf(_closed, this);
                room = (_roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            // Registered before trying, so an acknowledgement between the try and the wait is not missed.
            if (TryWriteDurable(record)) return;
            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task FlushDurableAsync(CancellationToken cancellationToken)
    {
        var outbox = _outbox!;
        long target = outbox.LastSequence;
        var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_sendGate)
        {
            if (outbox.AcknowledgedSequence >= target) done.TrySetResult(FailedSinceLastFlush());
            else if (_outboxClosed) done.TrySetException(Undelivered());
            else
            {
                _durableFlushes.Add((target, done));
                Interlocked.Increment(ref _durableFlushCount);
            }
        }
        _intakeSignal.Set();
        long failed = await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (failed > 0)
            throw new IoTException(IoTErrorKind.Unknown, $"{failed} telemetry records could not be delivered since the previous flush.", "Telemetry",
                "TelemetryUndelivered", innerException: Volatile.Read(ref _lastFailure));
    }

    private static IoTException Undelivered() => new(IoTErrorKind.Unknown,
        "The pipeline was disposed before these records were acknowledged; they remain in the outbox and are replayed by the next pipeline on it.",
        "Telemetry", "TelemetryUndelivered", isTransient: true);

    private void CloseOutbox()
    {
        List<(long Target, TaskCompletionSource<long> Done)> left;
        lock (_sendGate)
        {
            _outboxClosed = true;
            left = [.. _durableFlushes];
            _durableFlushes.Clear();
        }
        foreach (var (_, done) in left) done.TrySetException(Undelivered());
        try
        {
            _outbox!.Dispose();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.OutboxCloseFailed(_logger, ex);
        }
    }

    // ---- durable batcher: outbox ▸ encoded batches ---------------------------------------------

    private async Task RunDurableBatcherAsync()
    {
        var outbox = _outbox!;
        var chunk = _readChunk;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                int epoch = Volatile.Read(ref _epoch);
                if (epoch != _batcherEpoch)
                {
                    // The sender gave up on an attempt cycle: forget what was read and read again from the acknowledged mark.
                    _batcherEpoch = epoch;
                    if (_builder.TakeOpen() is { } open) ReturnBatch(open);
                    _openSince = 0;
                    _nextExpected = 0;
                    outbox.Rewind();
                }

                int count = outbox.ReadPending(chunk, out long first);
                if (count > 0)
                {
                    // A gap (records lost to corruption) ends the open batch, so a batch's sequences stay consecutive.
                    if (_builder.OpenCount > 0 && first != _nextExpected) await CompleteOpenAsync().ConfigureAwait(false);
                    for (int i = 0; i < count; i++) chunk[i] = chunk[i] with { Sequence = first + i };
                    int done = 0;
                    while (done < count && epoch == Volatile.Read(ref _epoch))
                    {
                        done = FillDurable(chunk, first, count, done, out bool rejected);
                        if (_builder.TakeReady() is { } ready)
                        {
                            _openSince = 0;
                            Stamp(ready);
                            await EnqueueAsync(ready).ConfigureAwait(false);
                        }
                        if (rejected)
                        {
                            // Keep batches consecutive around the refused record, then let the sender count and acknowledge it.
                            await CompleteOpenAsync().ConfigureAwait(false);
                            var marker = RentBatch();
                            marker.Rejected = 1;
                            marker.AckSequence = first + done - 1;
                            marker.Epoch = _batcherEpoch;
                            await EnqueueAsync(marker).ConfigureAwait(false);
                        }
                    }
                    Array.Clear(chunk, 0, count);
                    _nextExpected = first + count;
                }

                bool closing = Volatile.Read(ref _closed);
                if (_builder.OpenCount > 0)
                {
                    if (_openSince == 0) _openSince = Math.Max(1, _time.GetTimestamp());
                    if (closing || Volatile.Read(ref _durableFlushCount) > 0 || _options.Linger == TimeSpan.Zero || _time.GetElapsedTime(_openSince) >= _options.Linger)
                        await CompleteOpenAsync().ConfigureAwait(false);
                }
                else
                {
                    _openSince = 0;
                }

                if (count > 0) continue;
                if (closing && _builder.OpenCount == 0 && outbox.AcknowledgedSequence >= Volatile.Read(ref _closeTarget)) break;
                ArmLingerTimer();
                await _intakeSignal.WaitAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            if (_builder.TakeOpen() is { } open) ReturnBatch(open);
            using (_gate.Enter()) _batcherExited = true;
            CompleteSendQueue();
        }
    }

    private int FillDurable(TelemetryRecord[] chunk, long first, int count, int done, out bool rejected)
    {
        rejected = false;
        while (done < count)
        {
            int index = done++;
            if (_builder.OpenCount == 0) _openFirst = first + index;
            var result = _builder.Add(in chunk[index]);
            if (result == BatchAddResult.Ready) return done;
            if (result == BatchAddResult.TooLarge)
            {
                Log.RecordTooLarge(_logger, ErrorText.Escape(chunk[index].DeviceId));
                rejected = true;
                return done;
            }
        }
        return done;
    }

    private async ValueTask CompleteOpenAsync()
    {
        _openSince = 0;
        if (!_builder.Complete()) return;
        var ready = _builder.TakeReady()!;
        Stamp(ready);
        await EnqueueAsync(ready).ConfigureAwait(false);
    }

    /// <summary>Gives a completed batch its sequence range: the builder keeps records in order, so it starts where the previous one ended.</summary>
    private void Stamp(OutgoingBatch batch)
    {
        batch.FirstSequence = _openFirst;
        batch.AckSequence = _openFirst + batch.Count - 1;
        batch.Epoch = _batcherEpoch;
        _openFirst += batch.Count;
    }

    // ---- durable sender -------------------------------------------------------------------------

    private async ValueTask SendDurableAsync(OutgoingBatch batch)
    {
        try
        {
            // Stale (read before a rewind) or abandoned at the drain deadline: the records stay in the outbox.
            if (batch.Epoch != Volatile.Read(ref _epoch) || _stop.IsCancellationRequested) return;
            if (batch.Count > 0)
            {
                var failure = await SendThroughResilienceAsync(batch).ConfigureAwait(false);
                if (failure is null)
                {
                    CountSent(batch);
                    _retryCycle = 0;
                }
                else if (_stop.IsCancellationRequested)
                {
                    return;
                }
                else if (TelemetryResilience.IsTransient(failure, _transport, _stop.Token))
                {
                    await RewindAfterOutageAsync(failure).ConfigureAwait(false);
                    return;
                }
                else
                {
                    Volatile.Write(ref _lastFailure, failure);
                    Interlocked.Add(ref _failed, batch.Count);
                    TelemetryMetrics.RecordsFailed.Add(batch.Count, _metricTags);
                    Log.DurableBatchFailed(_logger, failure, batch.Count);
                }
            }
            if (batch.Rejected > 0)
            {
                Interlocked.Add(ref _failed, batch.Rejected);
                TelemetryMetrics.RecordsFailed.Add(batch.Rejected, _metricTags);
            }
            AcknowledgeDurable(batch.AckSequence);
        }
        finally
        {
            ReturnBatch(batch);
        }
    }

    private void AcknowledgeDurable(long sequence)
    {
        var outbox = _outbox!;
        try
        {
            outbox.Acknowledge(sequence);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not fatal: an unrecorded acknowledgement only means these records are sent again after a restart.
            Log.AcknowledgementNotRecorded(_logger, ex, sequence);
        }
        if (sequence > _ackedSequence) _ackedSequence = sequence;

        List<(long Target, TaskCompletionSource<long> Done)>? reached = null;
        lock (_sendGate)
        {
            if (_durableFlushes.Count > 0)
            {
                long acknowledged = outbox.AcknowledgedSequence;
                for (int i = _durableFlushes.Count - 1; i >= 0; i--)
                {
                    if (_durableFlushes[i].Target > acknowledged) continue;
                    (reached ??= []).Add(_durableFlushes[i]);
                    _durableFlushes.RemoveAt(i);
                }
            }
        }
        if (reached is not null)
        {
            long failed = FailedSinceLastFlush();
            foreach (var (_, done) in reached)
            {
                Interlocked.Decrement(ref _durableFlushCount);
                done.TrySetResult(failed);
            }
        }

        TaskCompletionSource? room;
        using (_gate.Enter())
        {
            room = _roomWaiter;
            _roomWaiter = null;
        }
        room?.TrySetResult();
        if (Volatile.Read(ref _closed)) _intakeSignal.Set();
    }

    /// <summary>An attempt cycle ended in a transient failure: drop what is in flight, rewind, and try again after a bounded backoff.</summary>
    private async ValueTask RewindAfterOutageAsync(Exception failure)
    {
        int cycle = _retryCycle++;
        var delay = TelemetryResilience.FullJitter(cycle, _options.RetryBaseDelay, _options.RetryMaxDelay, _jitter());
        if (delay < _options.RetryBaseDelay) delay = _options.RetryBaseDelay;
        Log.ReplayingFromOutbox(_logger, failure, cycle + 1, delay);
        Interlocked.Increment(ref _epoch);
        _intakeSignal.Set();
        try
        {
            await Task.Delay(delay, _time, _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Disposal gave up waiting; the records stay in the outbox.
        }
    }
}
