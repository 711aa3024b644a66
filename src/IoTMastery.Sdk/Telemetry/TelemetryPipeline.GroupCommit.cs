using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;

namespace IoTMastery.Sdk;

// Durable intake with group commit. A WriteAsync completes only once its record is appended to the outbox, i.e. on
// disk as the outbox's durability mode says, so the crash guarantee is the outbox's own. What group commit changes is
// who appends: the first writer appends inline (no hand-off, so one producer awaiting each call pays no thread hop),
// and writers arriving while an append is under way are appended together by one drain, with one AppendBatch.
internal sealed partial class TelemetryPipeline : IThreadPoolWorkItem
{
    private enum DurableWrite { Accepted, Closed, Full }

    private long _groupCommits;
    private long _groupedRecords;

    /// <summary>Drain rounds so far: each appended a group of staged records with one <see cref="TelemetryOutbox.AppendBatch"/>.</summary>
    internal long GroupCommits => Interlocked.Read(ref _groupCommits);

    /// <summary>Records appended by drain rounds (the rest were appended inline by the writer that found no append under way).</summary>
    internal long GroupedRecords => Interlocked.Read(ref _groupedRecords);

    /// <summary>Times an intake woke the parked batcher (durable or not); each wake costs the writer a thread-pool hand-off.</summary>
    internal long BatcherWakeups => _intakeSignal.Wakeups;

    /// <summary>Test seam: runs on the writer that appends inline, just before its append, so a test can hold an append open and stage others behind it.</summary>
    internal Action? BeforeInlineAppend { get; set; }

    /// <summary>Durable <see cref="WriteAsync"/>: completes once the record is accepted by the outbox.</summary>
    private ValueTask WriteDurableAsync(in TelemetryRecord record, CancellationToken cancellationToken)
    {
        if (!record.IsInitialized) ThrowUninitialized();
        GroupWaiter? waiter = null;
        lock (_stageGate)
        {
            if (Volatile.Read(ref _closed)) return ValueTask.FromException(new ObjectDisposedException(GetType().FullName));
            if (_appending)
            {
                if (_stageCount == _stage.Length) GrowStage();
                if (_stageWaiters.Length < _stage.Length) Array.Resize(ref _stageWaiters, _stage.Length);
                waiter = _waiterPool.TryPop(out var pooled) ? pooled : new GroupWaiter(this);
                _stage[_stageCount] = record;
                _stageWaiters[_stageCount++] = waiter;
            }
            else
            {
                _appending = true;
            }
        }
        if (waiter is not null) return AwaitGroupAsync(waiter, record, cancellationToken);

        // Leader: nobody else is appending, so appending inline is the fastest way to durable.
        BeforeInlineAppend?.Invoke();
        var error = AppendOne(record);
        EndAppending();
        _intakeSignal.Set();
        if (error is null) return ValueTask.CompletedTask;
        return Settle(error) == DurableWrite.Full ? WaitForOutboxRoomAsync(record, cancellationToken) : ValueTask.CompletedTask;
    }

    /// <summary>The synchronous form (<see cref="TryWrite"/>): appends straight to the outbox, whose lock orders it against the group commits.</summary>
    private bool TryWriteDurable(in TelemetryRecord record)
    {
        lock (_stageGate)
        {
            if (Volatile.Read(ref _closed)) return false;
            _directWriters++;
        }
        Exception? error;
        try
        {
            error = AppendOne(record);
        }
        finally
        {
            lock (_stageGate)
            {
                if (--_directWriters == 0) PulseIfClosing();
            }
            _intakeSignal.Set();
        }
        return error is null || Settle(error) == DurableWrite.Accepted;
    }

    // A pooled state machine (no allocation per awaited write) around a pooled waiter.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitGroupAsync(GroupWaiter waiter, TelemetryRecord record, CancellationToken cancellationToken)
    {
        // Not cancellable once staged: the drain appends it within one AppendBatch, so the wait is bounded by that.
        if (await new ValueTask<DurableWrite>(waiter, waiter.Version).ConfigureAwait(false) == DurableWrite.Full)
            await WaitForOutboxRoomAsync(record, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Ends an inline append: hands staged records to a drain, or marks the intake idle.</summary>
    private void EndAppending()
    {
        lock (_stageGate)
        {
            if (_stageCount > 0)
            {
                // Keep _appending set: the drain owns the append side until the stage is empty.
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                return;
            }
            _appending = false;
            PulseIfClosing();
        }
    }

    /// <summary>The drain: appends the stage with one AppendBatch per round until it stays empty, completing each waiter.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        while (true)
        {
            TelemetryRecord[] records;
            GroupWaiter[] waiters;
            int count;
            lock (_stageGate)
            {
                count = _stageCount;
                if (count == 0)
                {
                    _appending = false;
                    PulseIfClosing();
                    return;
                }
                // Swap buffers so writers stage the next group while this one is written.
                records = _stage;
                waiters = _stageWaiters;
                _stage = _stageSpare;
                _stageWaiters = _stageWaitersSpare;
                _stageSpare = [];
                _stageWaitersSpare = [];
                _stageCount = 0;
            }

            Exception?[]? errors = null;
            try
            {
                _outbox!.AppendBatch(records.AsSpan(0, count));
            }
            catch (Exception)
            {
                // Nothing (or, on an I/O error, a prefix) was written: settle each record alone, so one bad record or a
                // full outbox fails only its own writer.
                errors = new Exception?[count];
                for (int i = 0; i < count; i++) errors[i] = AppendOne(records[i]);
            }
            Array.Clear(records, 0, count);
            Interlocked.Increment(ref _groupCommits);
            Interlocked.Add(ref _groupedRecords, count);
            _intakeSignal.Set();
            for (int i = 0; i < count; i++)
            {
                var waiter = waiters[i];
                waiters[i] = null!;
                if (errors?[i] is not { } error) waiter.Complete(DurableWrite.Accepted);
                else
                {
                    try
                    {
                        waiter.Complete(Settle(error));
                    }
                    catch (Exception mapped)
                    {
                        waiter.Fail(mapped);
                    }
                }
            }
            lock (_stageGate)
            {
                _stageSpare = records;
                _stageWaitersSpare = waiters;
            }
        }
    }

    /// <summary>Appends one record; the failure, if any, for <see cref="Settle"/>.</summary>
    private Exception? AppendOne(in TelemetryRecord record)
    {
        try
        {
            _outbox!.Append(record);
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    /// <summary>
    /// Maps a failed append to the backpressure mode: <see cref="DurableWrite.Full"/> (wait for room) in
    /// <see cref="BackpressureMode.Wait"/>; otherwise throws what the caller must see.
    /// </summary>
    private DurableWrite Settle(Exception error)
    {
        if (error is IoTException { Kind: IoTErrorKind.OutboxFull } full)
        {
            if (_mode == BackpressureMode.Wait) return DurableWrite.Full;
            if (_mode == BackpressureMode.FailFast)
                throw IoTException.QueueFull($"The pipeline fails fast: {full.Message}", full);
        }
        ExceptionDispatchInfo.Throw(error);
        return DurableWrite.Full;
    }

    /// <summary>More writers are waiting than the stage holds: double it (the spare is resized when it is next staged into).</summary>
    private void GrowStage() => Array.Resize(ref _stage, Math.Max(64, _stage.Length * 2));

    /// <summary>Wakes <see cref="CloseDurableIntake"/>, which waits under <c>_stageGate</c> for the intake to go idle.</summary>
    private void PulseIfClosing()
    {
        if (Volatile.Read(ref _closed)) Monitor.PulseAll(_stageGate);
    }

    /// <summary>Waits until no append is under way or staged, then fixes what the drain must deliver: everything accepted so far.</summary>
    private void CloseDurableIntake()
    {
        lock (_stageGate)
        {
            // Bounded: _closed is set, so no new writer stages; what is staged is appended by one more drain round.
            while (_appending || _stageCount > 0 || _directWriters > 0) Monitor.Wait(_stageGate);
            Volatile.Write(ref _closeTarget, _outbox!.LastSequence);
        }
    }

    private void ReturnWaiter(GroupWaiter waiter)
    {
        lock (_stageGate)
        {
            if (_waiterPool.Count < StageCapacity) _waiterPool.Push(waiter);
        }
    }

    /// <summary>
    /// One staged write's completion: a reusable <see cref="IValueTaskSource{TResult}"/>, returned to the pipeline's
    /// pool once its result is read, so a write that waits for a group allocates nothing.
    /// </summary>
    private sealed class GroupWaiter(TelemetryPipeline owner) : IValueTaskSource<DurableWrite>
    {
        // Continuations run on the thread pool, so a slow caller cannot hold up the drain completing the others.
        private ManualResetValueTaskSourceCore<DurableWrite> _core = new() { RunContinuationsAsynchronously = true };

        public short Version => _core.Version;

        public void Complete(DurableWrite result) => _core.SetResult(result);

        public void Fail(Exception error) => _core.SetException(error);

        public DurableWrite GetResult(short token)
        {
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                _core.Reset();
                owner.ReturnWaiter(this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
