namespace IoTMastery.Sdk;

// In-memory mode's batcher: swaps the intake ring out in bulk, packs records into encoded batches, hands them to the sender.
internal sealed partial class TelemetryPipeline
{
    // ---- batcher: intake ring ▸ encoded batches -------------------------------------------------

    private async Task RunBatcherAsync()
    {
        // Flushes taken from the intake and not yet queued behind their records: released on a fault like those still
        // in the intake, or a fault in the same pass (an encoder exception) would leave their callers waiting forever.
        List<TaskCompletionSource<long>>? flushes = null;
        // The chunk swapped out of the intake and how much of it the builder took: on a fault, the rest is reported failed.
        int count = 0, done = 0;
        Exception? fault = null;
        try
        {
            while (true)
            {
                TelemetryRecord[] chunk;
                int head;
                bool closed, exiting, idle = false;
                TaskCompletionSource? room = null;
                using (_gate.Enter())
                {
                    chunk = _ring;
                    head = _head;
                    count = _count;
                    done = 0;
                    if (count > 0)
                    {
                        _ring = _spareRing ?? new TelemetryRecord[chunk.Length];
                        _spareRing = null;
                        _head = 0;
                        _count = 0;
                        room = _roomWaiter;
                        _roomWaiter = null;
                    }
                    flushes = _flushRequests;
                    _flushRequests = null;
                    closed = _closed;
                    if (count == 0 && flushes is null && !closed) idle = _batcherIdle = true;
                    // Decided under the gate, so a flush that arrives later sees the batcher gone instead of waiting for it.
                    exiting = closed && count == 0 && flushes is null;
                    if (exiting) _batcherExited = true;
                }
                room?.TrySetResult();

                if (count > 0)
                {
                    while (done < count)
                    {
                        int from = done;
                        Fill(chunk, head, count, ref done);
                        // Cleared batch by batch, while the records just encoded are still in cache: clearing a large
                        // chunk at the end touched it all again from memory (a visible share of the e2e profile).
                        int start = head + from;
                        ClearRing(chunk, start >= chunk.Length ? start - chunk.Length : start, done - from);
                        if (_builder.TakeReady() is { } ready)
                        {
                            // The linger clock restarts with each batch, or a busy stream would cut every batch short.
                            _openSince = 0;
                            await EnqueueAsync(ready).ConfigureAwait(false);
                        }
                    }
                    using (_gate.Enter()) _spareRing = chunk;
                }

                if (_builder.OpenCount > 0)
                {
                    if (_openSince == 0) _openSince = Math.Max(1, _time.GetTimestamp());
                    if (flushes is not null || closed || _options.Linger == TimeSpan.Zero || _time.GetElapsedTime(_openSince) >= _options.Linger)
                    {
                        _builder.Complete();
                        _openSince = 0;
                        await EnqueueAsync(_builder.TakeReady()!).ConfigureAwait(false);
                    }
                }
                else
                {
                    _openSince = 0;
                }

                if (flushes is not null)
                {
                    var marker = RentBatch();
                    marker.Flushes = flushes;
                    flushes = null;
                    await EnqueueAsync(marker).ConfigureAwait(false);
                }

                if (exiting) break;
                if (!idle) continue;
                ArmLingerTimer();
                await _intakeSignal.WaitAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            fault = ex;
            throw;
        }
        finally
        {
            // Records the builder took into the open batch (none on a clean exit: closing completes it).
            long stranded = 0;
            if (_builder.TakeOpen() is { } open)
            {
                stranded += open.Count;
                ReturnBatch(open);
            }
            List<TaskCompletionSource<long>>? orphans;
            TaskCompletionSource? room;
            using (_gate.Enter())
            {
                _batcherExited = true;
                orphans = _flushRequests;
                _flushRequests = null;
                room = _roomWaiter;
                _roomWaiter = null;
                if (fault is not null)
                {
                    // Nobody will read the intake any more: stop taking records rather than accept and lose them.
                    _closed = true;
                    stranded += _count;
                    Array.Clear(_ring);
                    _count = 0;
                }
            }
            if (fault is not null)
            {
                stranded += count - done + _rejectedSinceLastBatch;
                _rejectedSinceLastBatch = 0;
                CountStranded(stranded, fault);
            }
            room?.TrySetResult();
            // Only after an unexpected fault: nobody will carry these flushes to the sender any more, so each caller
            // waits for the sender itself and then reports what failed (FlushAsync, NoMarker).
            if (orphans is not null) foreach (var flush in orphans) flush.TrySetResult(NoMarker);
            if (flushes is not null) foreach (var flush in flushes) flush.TrySetResult(NoMarker);
            CompleteSendQueue();
        }
    }

    // A flush released without a marker in the send queue: the caller waits for the sender to finish, then counts failures.
    private const long NoMarker = -1;

    // After a batcher or sender fault: accepted records that will never be sent are failed (FlushAsync reports them with the fault),
    // not silently lost; PendingRecords drops to zero.
    private void CountStranded(long records, Exception fault)
    {
        Volatile.Write(ref _lastFailure, fault);
        Interlocked.Add(ref _failed, records);
        TelemetryMetrics.RecordsFailed.Add(records, _metricTags);
        Log.RecordsStranded(_logger, fault, records);
    }

    // Both batchers, before they park: wake up when the open batch's linger runs out.
    private void ArmLingerTimer()
    {
        if (_builder.OpenCount == 0) return;
        var left = _options.Linger - _time.GetElapsedTime(_openSince);
        _lingerTimer.Change(left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    // Both batchers, on exit: nothing more will be queued, so the sender may finish once the queue is empty.
    private void CompleteSendQueue()
    {
        bool wake;
        lock (_sendGate)
        {
            _sendCompleted = true;
            wake = _senderIdle;
            _senderIdle = false;
        }
        if (wake) _sendReady.Set();
    }

    // Synchronous so the per-record loop keeps its locals in registers; returns when a batch is ready or the chunk is done.
    // Counts a record done only once the builder took it, so a fault leaves `done` at the first record not in a batch.
    private void Fill(TelemetryRecord[] chunk, int head, int count, ref int done)
    {
        int length = chunk.Length;
        while (done < count)
        {
            int index = head + done;
            if (index >= length) index -= length;
            var result = _builder.Add(in chunk[index]);
            done++;
            if (result == BatchAddResult.Ready)
            {
                return;
            }
            if (result == BatchAddResult.TooLarge)
            {
                _rejectedSinceLastBatch++;
                Log.RecordTooLarge(_logger, ErrorText.Escape(chunk[index].DeviceId));
            }
        }
    }

    private static void ClearRing(TelemetryRecord[] ring, int head, int count)
    {
        int first = Math.Min(count, ring.Length - head);
        Array.Clear(ring, head, first);
        if (first < count) Array.Clear(ring, 0, count - first);
    }

    private async ValueTask EnqueueAsync(OutgoingBatch batch)
    {
        batch.Rejected += _rejectedSinceLastBatch;
        _rejectedSinceLastBatch = 0;
        while (!TryEnqueue(batch)) await _sendRoom.WaitAsync().ConfigureAwait(false);
    }

    private bool TryEnqueue(OutgoingBatch batch)
    {
        bool wake;
        lock (_sendGate)
        {
            if (_sendQueue.Count >= _options.MaxPendingBatches)
            {
                _batcherWaitsForRoom = true;
                return false;
            }
            _sendQueue.Enqueue(batch);
            wake = _senderIdle;
            _senderIdle = false;
        }
        if (wake) _sendReady.Set();
        return true;
    }

    private OutgoingBatch RentBatch()
    {
        lock (_sendGate)
        {
            if (_batchPool.TryPop(out var batch)) return batch;
        }
        return new OutgoingBatch(_initialBufferBytes);
    }

    private void ReturnBatch(OutgoingBatch batch)
    {
        batch.Reset();
        lock (_sendGate) _batchPool.Push(batch);
    }
}
