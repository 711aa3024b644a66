using System.Diagnostics;
using IoTMastery.Sdk.Diagnostics;
using Polly;

namespace IoTMastery.Sdk;

// The sender: takes encoded batches in order, paces them, sends each through the resilience pipeline, counts the outcome.
internal sealed partial class TelemetryPipeline
{
    // ---- sender: encoded batches ▸ transport ----------------------------------------------------

    private Task RunSenderAsync() => _outbox is null ? RunWindowedSenderAsync() : RunDurableSenderAsync();

    // Durable mode: one batch at a time; a transient failure rewinds the outbox (see TelemetryPipeline.Durable.cs).
    private async Task RunDurableSenderAsync()
    {
        while (true)
        {
            OutgoingBatch? batch;
            bool finished = false, wakeBatcher = false;
            lock (_sendGate)
            {
                if (_sendQueue.TryDequeue(out batch))
                {
                    wakeBatcher = _batcherWaitsForRoom;
                    _batcherWaitsForRoom = false;
                }
                else if (_sendCompleted)
                {
                    finished = true;
                }
                else
                {
                    _senderIdle = true;
                }
            }
            if (wakeBatcher) _sendRoom.Set();
            if (batch is null)
            {
                if (finished) break;
                await _sendReady.WaitAsync().ConfigureAwait(false);
                continue;
            }
            await SendDurableAsync(batch).ConfigureAwait(false);
        }
    }

    // In-memory mode: up to _maxInFlight attempt cycles run at once, started in queue order and resolved in that order.
    // The transport sees first attempts in batch order (MQTT then keeps that order on the connection). A retry waits
    // until its batch is the oldest unresolved one, and no new batch starts while one is retrying or waiting to be
    // replayed, so a retried batch goes out before everything sent after it, and whatever was sent before the retry
    // and acknowledged is sent once more after it.
    private async Task RunWindowedSenderAsync()
    {
        var window = _window;
        while (true)
        {
            OutgoingBatch? head = null, start = null;
            bool finished = false, wakeBatcher = false;
            lock (_sendGate)
            {
                if (window.TryPeek(out var oldest) && oldest.Done)
                {
                    head = oldest;
                }
                else if (window.Count < _maxInFlight && WindowIsHealthy() && _sendQueue.TryDequeue(out start))
                {
                    wakeBatcher = _batcherWaitsForRoom;
                    _batcherWaitsForRoom = false;
                    // Nothing to send (a flush marker) is resolved as soon as its turn comes.
                    if (start.Count == 0) start.Done = true;
                    window.Enqueue(start);
                }
                else if (window.Count == 0 && _sendQueue.Count == 0 && _sendCompleted)
                {
                    finished = true;
                }
                else
                {
                    _senderIdle = true;
                }
            }
            if (head is not null)
            {
                await ResolveHeadAsync(head).ConfigureAwait(false);
                continue;
            }
            if (start is not null)
            {
                // Synchronous up to the transport's first await, so the next batch reaches the transport after this one.
                if (start.Count > 0) _ = RunAttemptCycleAsync(start);
                // The batcher runs here until it parks again (see _sendRoom): woken after the send started, so the
                // connection is busy with this batch while the batcher encodes the next one.
                if (wakeBatcher) _sendRoom.Set();
                continue;
            }
            if (finished) break;
            await _sendReady.WaitAsync().ConfigureAwait(false);
        }
    }

    // Under _sendGate. A retry or a pending replay in the window stops new batches, so nothing overtakes them.
    private bool WindowIsHealthy()
    {
        foreach (var batch in _window)
        {
            if (batch.Retried || batch.NeedsReplay) return false;
        }
        return true;
    }

    private async Task RunAttemptCycleAsync(OutgoingBatch batch)
    {
        Exception? failure;
        try
        {
            failure = await SendThroughResilienceAsync(batch, batch.WaitForTurn ??= () => WaitForTurnAsync(batch)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Only disposal cancelling a retry's wait for its turn lands here; the batch counts as failed like any other.
            failure = ex;
        }
        bool wake;
        lock (_sendGate)
        {
            batch.Failure = failure;
            batch.Done = true;
            wake = _senderIdle;
            _senderIdle = false;
        }
        if (wake) _sendReady.Set();
    }

    /// <summary>Called by the retry strategy before each retry of a windowed batch: waits until every batch sent before it is resolved.</summary>
    private ValueTask WaitForTurnAsync(OutgoingBatch batch)
    {
        Task turn;
        lock (_sendGate)
        {
            batch.Retried = true;
            if (!_window.TryPeek(out var oldest) || oldest == batch) return default;
            turn = (batch.Turn ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        return new ValueTask(turn.WaitAsync(_stop.Token));
    }

    private async ValueTask ResolveHeadAsync(OutgoingBatch batch)
    {
        var failure = batch.Failure;
        if (batch.NeedsReplay && failure is null && !batch.Retried)
        {
            // Acknowledged before an earlier batch's retry went out: send it again after that retry so the last copy
            // of every record is in order. Its records were delivered once already, so they count as sent either way.
            if (await SendThroughResilienceAsync(batch, batch.WaitForTurn).ConfigureAwait(false) is { } replayFailure)
                Log.ReplayFailed(_logger, batch.Count, ErrorText.Name(replayFailure));
        }
        if (batch.Rejected > 0)
        {
            Interlocked.Add(ref _failed, batch.Rejected);
            TelemetryMetrics.RecordsFailed.Add(batch.Rejected, _metricTags);
        }
        if (batch.Count > 0)
        {
            if (failure is null) CountSent(batch);
            else CountFailed(batch, failure);
        }
        if (batch.Flushes is { } flushes)
        {
            long sinceLast = FailedSinceLastFlush();
            foreach (var flush in flushes) flush.TrySetResult(sinceLast);
        }
        lock (_sendGate)
        {
            _window.Dequeue();
            // A retry that was delivered went out after everything still in the window that had not retried itself.
            if (batch.Retried && failure is null)
            {
                foreach (var later in _window)
                {
                    if (!later.Retried && later.Count > 0) later.NeedsReplay = true;
                }
            }
            if (_window.TryPeek(out var next)) next.Turn?.TrySetResult();
        }
        ReturnBatch(batch);
    }

    private void CountFailed(OutgoingBatch batch, Exception failure)
    {
        Volatile.Write(ref _lastFailure, failure);
        Interlocked.Add(ref _failed, batch.Count);
        TelemetryMetrics.RecordsFailed.Add(batch.Count, _metricTags);
        Log.BatchFailed(_logger, failure, batch.Count);
    }

    private void CountSent(OutgoingBatch batch)
    {
        Interlocked.Add(ref _acknowledged, batch.Count);
        TelemetryMetrics.RecordsSent.Add(batch.Count, _metricTags);
        TelemetryMetrics.BatchesSent.Add(1, _metricTags);
        TelemetryMetrics.BytesSent.Add(batch.Buffer.Length, _metricTags);
    }

    /// <summary>
    /// One attempt cycle: retries, breaker and timeouts; returns the final failure, or null once acknowledged. Traced as one
    /// <c>telemetry.send</c> producer span per batch (see <see cref="StartBatchSpan"/>).
    /// </summary>
    private async ValueTask<Exception?> SendThroughResilienceAsync(OutgoingBatch batch, Func<ValueTask>? beforeRetry = null)
    {
        long started = _time.GetTimestamp();
        using var activity = StartBatchSpan(batch);
        Exception? failure;
        if (_stop.IsCancellationRequested)
        {
            failure = new OperationCanceledException("The telemetry drain timed out before this batch was sent.");
        }
        else
        {
            var context = ResilienceContextPool.Shared.Get(_stop.Token);
            if (beforeRetry is not null) context.Properties.Set(TelemetryResilience.BeforeRetry, beforeRetry);
            try
            {
                var outcome = await _resilience.ExecuteOutcomeAsync(static async (context, state) =>
                {
                    try
                    {
                        await state.Pipeline.SendOnceAsync(state.Batch, context.CancellationToken).ConfigureAwait(false);
                        return Outcome.FromResult(true);
                    }
                    catch (Exception ex)
                    {
                        return Outcome.FromException<bool>(ex);
                    }
                }, context, (Pipeline: this, Batch: batch)).ConfigureAwait(false);
                failure = outcome.Exception;
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
        TelemetryMetrics.SendDuration.Record(_time.GetElapsedTime(started).TotalSeconds, _metricTags);
        if (failure is not null) SdkActivitySource.RecordFailure(activity, failure);
        return failure;
    }

    /// <summary>
    /// A root producer span for one batch: the batch is one message on the wire, so <c>messaging.message.body.size</c> is
    /// its encoded bytes, and <c>iotmastery.telemetry.records</c> the records it packs (OpenTelemetry's
    /// <c>messaging.batch.message_count</c> would count wire messages, which is always one here). No destination is
    /// recorded (the topic holds a device id and the transport is the provider's), nor anything of the payload.
    /// </summary>
    private static Activity? StartBatchSpan(OutgoingBatch batch)
    {
        if (!SdkActivitySource.Source.HasListeners()) return null;
        // A root span: the sender lives as long as the pipeline, and parenting every batch under whatever span was current
        // when the pipeline was built would tie a day of unrelated sends into that one trace. Cleared in this async
        // method's flow only.
        Activity.Current = null;
        var activity = SdkActivitySource.Source.StartActivity("telemetry.send", ActivityKind.Producer);
        if (activity is null) return null;
        activity.DisplayName = "send";
        activity.SetTag("messaging.operation.type", "send");
        activity.SetTag("messaging.operation.name", "send");
        activity.SetTag("messaging.message.body.size", batch.Buffer.Length);
        activity.SetTag("iotmastery.telemetry.records", batch.Count);
        return activity;
    }

    // Each attempt is a publish, so each attempt is paced.
    private ValueTask SendOnceAsync(OutgoingBatch batch, CancellationToken cancellationToken)
    {
        var wait = TimeSpan.Zero;
        if (_messageBucket is not null) wait = _messageBucket.Take(1);
        if (_byteBucket is not null)
        {
            var byteWait = _byteBucket.Take(batch.Buffer.Length);
            if (byteWait > wait) wait = byteWait;
        }
        var message = new TelemetryBatch(batch.Buffer.WrittenMemory, batch.Count, batch.FirstSequence > 0 ? batch.FirstSequence : null);
        return wait == TimeSpan.Zero ? _transport.SendAsync(message, cancellationToken) : PacedSendAsync(wait, message, cancellationToken);
    }

    // Several windowed batches may be paced at once: each waits its own delay (later ones longer, as the buckets run
    // into debt), and each also waits for the one paced before it to reach the transport, so timers firing together
    // cannot reorder them.
    private async ValueTask PacedSendAsync(TimeSpan wait, TelemetryBatch message, CancellationToken cancellationToken)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var previous = Interlocked.Exchange(ref _pacedTail, reached.Task);
        ValueTask send;
        try
        {
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            await previous.WaitAsync(cancellationToken).ConfigureAwait(false);
            send = _transport.SendAsync(message, cancellationToken);
        }
        finally
        {
            reached.TrySetResult();
        }
        await send.ConfigureAwait(false);
    }
}
