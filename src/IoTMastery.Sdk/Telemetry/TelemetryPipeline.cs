using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk;

/// <summary>
/// The shared telemetry engine: bounded intake, batching by count, bytes and linger time,
/// encoding, and bounded retries per batch, in front of an <see cref="ITelemetryTransport"/>.
/// Records are <em>accepted</em> when queued and <em>acknowledged</em> when the transport confirms
/// their batch; <see cref="FlushAsync"/> waits for the second.
/// </summary>
public sealed class TelemetryPipeline : IAsyncDisposable
{
    private readonly ITelemetryTransport _transport;
    private readonly TelemetryPipelineOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<TelemetryRecord> _intake;
    private readonly Task _loop;
    private readonly CancellationTokenSource _stop = new();
    private readonly int _maxRecords;
    private readonly int _maxBytes;
    private readonly Lock _progressLock = new();
    private readonly List<(long Sequence, TaskCompletionSource Done)> _flushWaiters = [];
    private long _accepted;
    private long _completed;
    private long _dropped;
    private long _failed;
    private Exception? _lastFailure;

    /// <summary>Creates and starts a pipeline.</summary>
    public TelemetryPipeline(ITelemetryTransport transport, TelemetryPipelineOptions? options = null,
        TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _transport = transport;
        _options = options ?? new TelemetryPipelineOptions();
        _options.Validate();
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        var limits = transport.Limits;
        _maxRecords = Math.Min(_options.MaxBatchRecords, limits.MaxRecordsPerMessage);
        _maxBytes = Math.Min(_options.MaxBatchBytes ?? limits.MaxMessageBytes, limits.MaxMessageBytes);
        _intake = Channel.CreateBounded<TelemetryRecord>(new BoundedChannelOptions(_options.Capacity)
        {
            SingleReader = true,
            FullMode = _options.Backpressure == BackpressureMode.DropOldest ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
        }, _ => Interlocked.Increment(ref _dropped));
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Records dropped by <see cref="BackpressureMode.DropOldest"/>.</summary>
    public long DroppedRecords => Interlocked.Read(ref _dropped);

    /// <summary>Records whose batch failed for good after its retries.</summary>
    public long FailedRecords => Interlocked.Read(ref _failed);

    /// <summary>Queues a record without waiting. False when the queue is full (in <see cref="BackpressureMode.Wait"/> mode) or closed.</summary>
    /// <exception cref="TelemetryQueueFullException">The queue is full in <see cref="BackpressureMode.FailFast"/> mode.</exception>
    public bool TryWrite(in TelemetryRecord record)
    {
        if (!record.IsInitialized) throw new ArgumentException("The record was not created by a constructor.", nameof(record));
        if (_intake.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _accepted);
            return true;
        }
        if (_options.Backpressure == BackpressureMode.FailFast && !_stop.IsCancellationRequested)
            throw new TelemetryQueueFullException(_options.Capacity);
        return false;
    }

    /// <summary>Queues a record, waiting for room in <see cref="BackpressureMode.Wait"/> mode. Completes when accepted.</summary>
    public async ValueTask WriteAsync(TelemetryRecord record, CancellationToken cancellationToken = default)
    {
        if (TryWrite(record)) return;
        while (await _intake.Writer.WaitToWriteAsync(cancellationToken).ConfigureAwait(false))
        {
            if (TryWrite(record)) return;
        }
        throw new ObjectDisposedException(nameof(TelemetryPipeline));
    }

    /// <summary>
    /// Waits until every record accepted before the call has been acknowledged or has failed for good.
    /// </summary>
    /// <exception cref="IoTException">Some of those records failed; the last failure is the inner exception.</exception>
    public Task FlushAsync(CancellationToken cancellationToken = default)
    {
        long target = Interlocked.Read(ref _accepted);
        long failedBefore = Interlocked.Read(ref _failed);
        TaskCompletionSource done;
        lock (_progressLock)
        {
            if (_completed >= target) return CheckFailures(failedBefore);
            done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _flushWaiters.Add((target, done));
        }
        return WaitAsync(done.Task);

        async Task WaitAsync(Task task)
        {
            await task.WaitAsync(cancellationToken).ConfigureAwait(false);
            await CheckFailures(failedBefore).ConfigureAwait(false);
        }
    }

    private Task CheckFailures(long failedBefore) =>
        Interlocked.Read(ref _failed) > failedBefore
            ? Task.FromException(new IoTException("Some telemetry records could not be delivered.", "Telemetry", innerException: _lastFailure))
            : Task.CompletedTask;

    /// <summary>Stops intake and delivers what is queued, waiting at most <see cref="TelemetryPipelineOptions.DrainTimeout"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        _intake.Writer.TryComplete();
        try
        {
            await _loop.WaitAsync(_options.DrainTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("Telemetry drain timed out after {Timeout}; undelivered records are dropped.", _options.DrainTimeout);
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        var batch = new List<TelemetryRecord>(_maxRecords);
        var buffer = new ArrayBufferWriter<byte>(Math.Min(_maxBytes, 64 * 1024));
        var reader = _intake.Reader;
        var token = _stop.Token;
        while (await reader.WaitToReadAsync(token).ConfigureAwait(false))
        {
            var deadline = _time.GetTimestamp();
            while (true)
            {
                while (batch.Count < _maxRecords && reader.TryRead(out var record))
                    batch.Add(record);
                if (batch.Count >= _maxRecords || _options.Linger == TimeSpan.Zero ||
                    _time.GetElapsedTime(deadline) >= _options.Linger || reader.Completion.IsCompleted)
                    break;
                using var linger = new CancellationTokenSource(_options.Linger - _time.GetElapsedTime(deadline), _time);
                using var both = CancellationTokenSource.CreateLinkedTokenSource(linger.Token, token);
                try
                {
                    if (!await reader.WaitToReadAsync(both.Token).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    break;
                }
            }
            await SendInPiecesAsync(batch, buffer, token).ConfigureAwait(false);
            batch.Clear();
        }
    }

    // Splits a collected batch so that every encoded message fits the byte limit.
    private async Task SendInPiecesAsync(List<TelemetryRecord> records, ArrayBufferWriter<byte> buffer, CancellationToken token)
    {
        int start = 0;
        while (start < records.Count)
        {
            int count = records.Count - start;
            while (true)
            {
                buffer.ResetWrittenCount();
                TelemetryJson.WriteBatch(buffer, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(records).Slice(start, count));
                if (buffer.WrittenCount <= _maxBytes || count == 1) break;
                count = Math.Max(1, count * _maxBytes / buffer.WrittenCount);
            }
            await SendWithRetryAsync(new TelemetryBatch(buffer.WrittenMemory, count), token).ConfigureAwait(false);
            start += count;
        }
    }

    private async Task SendWithRetryAsync(TelemetryBatch batch, CancellationToken token)
    {
        Exception? last = null;
        for (int attempt = 1; attempt <= _options.MaxAttempts; attempt++)
        {
            try
            {
                using var timeout = new CancellationTokenSource(_options.AttemptTimeout, _time);
                using var both = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, token);
                await _transport.SendAsync(batch, both.Token).ConfigureAwait(false);
                Complete(batch.RecordCount, failed: false);
                return;
            }
            catch (Exception ex) when (!token.IsCancellationRequested && (ex is OperationCanceledException || _transport.IsTransient(ex)))
            {
                last = ex;
                if (attempt == _options.MaxAttempts) break;
                var ceiling = Math.Min(_options.RetryMaxDelay.TotalMilliseconds, _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
                var delay = (ex as IoTException)?.RetryAfter ?? TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
                await Task.Delay(delay, _time, token).ConfigureAwait(false);
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                last = ex;
                break;
            }
        }
        _lastFailure = last;
        _logger.LogError(last, "Telemetry batch of {Count} records failed for good.", batch.RecordCount);
        Complete(batch.RecordCount, failed: true);
    }

    private void Complete(int count, bool failed)
    {
        if (failed) Interlocked.Add(ref _failed, count);
        lock (_progressLock)
        {
            _completed += count;
            for (int i = _flushWaiters.Count - 1; i >= 0; i--)
            {
                if (_flushWaiters[i].Sequence <= _completed)
                {
                    _flushWaiters[i].Done.TrySetResult();
                    _flushWaiters.RemoveAt(i);
                }
            }
        }
    }
}
