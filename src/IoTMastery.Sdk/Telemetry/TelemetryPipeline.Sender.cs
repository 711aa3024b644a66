using System.Diagnostics;
using IoTMastery.Sdk.Diagnostics;
using Microsoft.Extensions.Logging;
using Polly;

namespace IoTMastery.Sdk;

// The sender: takes encoded batches in order, paces them, sends each through the resilience pipeline, counts the outcome.
internal sealed partial class TelemetryPipeline
{
    // ---- sender: encoded batches ▸ transport ----------------------------------------------------

    private async Task RunSenderAsync()
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
            if (_outbox is not null)
            {
                await SendDurableAsync(batch).ConfigureAwait(false);
                continue;
            }

            if (batch.Rejected > 0)
            {
                Interlocked.Add(ref _failed, batch.Rejected);
                TelemetryMetrics.RecordsFailed.Add(batch.Rejected);
            }
            if (batch.Count > 0) await SendAsync(batch).ConfigureAwait(false);
            if (batch.Flushes is { } flushes)
            {
                long failed = Interlocked.Read(ref _failed);
                long sinceLast = failed - Interlocked.Exchange(ref _failedAtLastFlush, failed);
                foreach (var flush in flushes) flush.TrySetResult(sinceLast);
            }
            ReturnBatch(batch);
        }
    }

    private async ValueTask SendAsync(OutgoingBatch batch)
    {
        var failure = await SendThroughResilienceAsync(batch).ConfigureAwait(false);
        if (failure is null)
        {
            CountSent(batch);
            return;
        }
        Volatile.Write(ref _lastFailure, failure);
        Interlocked.Add(ref _failed, batch.Count);
        TelemetryMetrics.RecordsFailed.Add(batch.Count);
        _logger.LogError(failure, "A telemetry batch of {Count} records failed for good.", batch.Count);
    }

    private void CountSent(OutgoingBatch batch)
    {
        Interlocked.Add(ref _acknowledged, batch.Count);
        TelemetryMetrics.RecordsSent.Add(batch.Count);
        TelemetryMetrics.BatchesSent.Add(1);
        TelemetryMetrics.BytesSent.Add(batch.Buffer.Length);
    }

    /// <summary>
    /// One attempt cycle: retries, breaker and timeouts; returns the final failure, or null once acknowledged. Traced as one
    /// <c>telemetry.send</c> producer span per batch (see <see cref="StartBatchSpan"/>).
    /// </summary>
    private async ValueTask<Exception?> SendThroughResilienceAsync(OutgoingBatch batch)
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
        TelemetryMetrics.SendDuration.Record(_time.GetElapsedTime(started).TotalSeconds);
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

    private async ValueTask PacedSendAsync(TimeSpan wait, TelemetryBatch message, CancellationToken cancellationToken)
    {
        await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        await _transport.SendAsync(message, cancellationToken).ConfigureAwait(false);
    }
}
