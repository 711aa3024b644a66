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
        try
        {
            while (true)
            {
                TelemetryRecord[] chunk;
                int head, count;
                bool closed, exiting, idle = false;
                TaskCompletionSource? room = null;
                using (_gate.Enter())
                {
                    chunk = _ring;
                    head = _head;
                    count = _count;
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
                    int done = 0;
                    while (done < count)
                    {
                        int from = done;
                        done = Fill(chunk, head, count, done);
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
        finally
        {
            if (_builder.TakeOpen() is { } open) ReturnBatch(open);
            List<TaskCompletionSource<long>>? orphans;
            using (_gate.Enter())
            {
                _batcherExited = true;
                orphans = _flushRequests;
                _flushRequests = null;
            }
            // Only after an unexpected fault: nobody will carry these flushes to the sender any more.
            if (orphans is not null) foreach (var flush in orphans) flush.TrySetResult(0);
            if (flushes is not null) foreach (var flush in flushes) flush.TrySetResult(0);
            CompleteSendQueue();
        }
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
    private int Fill(TelemetryRecord[] chunk, int head, int count, int done)
    {
        int length = chunk.Length;
        while (done < count)
        {
            int index = head + done;
            if (index >= length) index -= length;
            done++;
            var result = _builder.Add(in chunk[index]);
            if (result == BatchAddResult.Ready)
            {
                return done;
            }
            if (result == BatchAddResult.TooLarge)
            {
                _rejectedSinceLastBatch++;
                Log.RecordTooLarge(_logger, ErrorText.Escape(chunk[index].DeviceId));
            }
        }
        return done;
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
