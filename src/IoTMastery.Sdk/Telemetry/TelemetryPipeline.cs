using System.Diagnostics.CodeAnalysis;
using IoTMastery.Sdk.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;

namespace IoTMastery.Sdk;

/// <summary>
/// The shared telemetry engine: bounded intake with backpressure, batching by count, bytes, linger
/// time and billing units, encoding into pooled buffers, pacing to the transport's rate limits, and
/// one resilience pipeline (retry, circuit breaker, timeouts) per batch, in front of an
/// <see cref="ITelemetryTransport"/>. Records are <em>accepted</em> when queued and
/// <em>acknowledged</em> when the transport confirms their batch; <see cref="FlushAsync"/> waits for the second.
/// Records of one device are delivered in the order they were accepted; with several batches in flight
/// (<see cref="TelemetryPipelineOptions.MaxBatchesInFlight"/>) a transient failure may add early copies, and the last copy
/// of every record is in order. Thread-safe.
/// </summary>
/// <remarks>
/// <para><b>In-memory mode</b> (default): a record is accepted once queued in memory; a crash loses what was not yet
/// acknowledged, and a batch whose retries or time budget run out is counted in <see cref="FailedRecords"/>.</para>
/// <para><b>Durable mode</b> (<see cref="TelemetryPipelineOptions.Outbox"/> set): a record is <em>accepted</em> only once
/// it is appended to a <see cref="TelemetryOutbox"/> (concurrent writers share one <see cref="TelemetryOutbox.AppendBatch"/>);
/// the pipeline reads pending records from the outbox in sequence order, sends them through the same batching, packing
/// and resilience path, and calls <see cref="TelemetryOutbox.Acknowledge"/> only after the transport acknowledged them.
/// Delivery is <b>at-least-once</b>: a record is never dropped for a transient outage. When a batch's attempt cycle
/// (<see cref="TelemetryPipelineOptions.MaxAttempts"/> within <see cref="TelemetryPipelineOptions.BatchDeliveryTimeout"/>)
/// ends in a transient failure, the outbox is rewound and the pipeline replays from the acknowledged mark after a
/// bounded backoff, again and again until disposed. Only permanent (non-transient) errors and records too large for a
/// message drop records; they are counted in <see cref="FailedRecords"/> and acknowledged so they are not replayed.
/// A record may arrive more than once (after a rewind, or a restart before its acknowledgement was recorded); its
/// outbox sequence number is the <b>deduplication key</b>: <see cref="TelemetryBatch.FirstSequence"/> for the transport,
/// <see cref="TelemetryRecord.Sequence"/> per record, and the JSON <c>"s"</c> field with
/// <see cref="TelemetryJsonEncoder.WithSequence"/>. On construction, records a previous process accepted and did not get
/// acknowledged are replayed first, in order. Disposal delivers what it can within
/// <see cref="TelemetryPipelineOptions.DrainTimeout"/>; the rest stays in the outbox for the next pipeline on the same directory.
/// A full outbox maps to <see cref="TelemetryPipelineOptions.Backpressure"/>: <see cref="BackpressureMode.Wait"/> waits
/// for acknowledgements to free space, <see cref="BackpressureMode.FailFast"/> throws
/// <see cref="IoTErrorKind.QueueFull"/>, <see cref="BackpressureMode.DropOldest"/> deletes the oldest segment
/// (counted in <see cref="DroppedRecords"/>).</para>
/// </remarks>
internal sealed partial class TelemetryPipeline : IAsyncDisposable
{
    private readonly ITelemetryTransport _transport;
    private readonly TelemetryPipelineOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly BackpressureMode _mode;
    private readonly ResiliencePipeline _resilience;
    private readonly TokenBucket? _messageBucket;
    private readonly TokenBucket? _byteBucket;
    private readonly TelemetryBatchBuilder _builder;
    private readonly int _initialBufferBytes;
    private readonly Func<double> _jitter;
    private readonly CancellationTokenSource _stop = new();
    // The provider tag of every telemetry measurement, or none when the transport names no provider (tests, benchmarks).
    private readonly KeyValuePair<string, object?>[] _metricTags;

    // Intake: a ring the producers fill under _gate; the batcher swaps the whole ring out, so records cross threads in bulk.
    // A SpinGate, not a Lock: TryWrite enters it once per record (see SpinGate); every section under it is a few stores.
    private SpinGate _gate;
    // Only for _disposal: DisposeCoreAsync enters _gate while DisposeAsync still holds this, and the gate is not recursive.
    private readonly Lock _disposeGate = new();
    private TelemetryRecord[] _ring;
    private TelemetryRecord[]? _spareRing;
    private int _head;
    private int _count;
    private long _accepted;
    private long _dropped;
    private bool _closed;
    private bool _batcherExited;
    private bool _batcherIdle;
    private List<TaskCompletionSource<long>>? _flushRequests;
    private TaskCompletionSource? _roomWaiter;
    private readonly AsyncSignal _intakeSignal = new();
    private readonly ITimer _lingerTimer;

    // Hand-off of encoded batches from the batcher to the sender, and the pool they return to.
    private readonly Lock _sendGate = new();
    private readonly Queue<OutgoingBatch> _sendQueue = new();
    private readonly Stack<OutgoingBatch> _batchPool = new();
    private bool _sendCompleted;
    private bool _senderIdle;
    private bool _batcherWaitsForRoom;
    // The sender runs on whichever thread wakes it (the batcher that queued a batch, the acknowledgement that resolved
    // one): a thread-pool hop per batch and per acknowledgement cost more CPU than the sender's short turn, and woke
    // workers that then spun. The sender only takes _sendGate briefly and starts sends, so the waking thread is back soon.
    private readonly AsyncSignal _sendReady = new(runWaiterInline: true);
    // In-memory mode: the batcher, parked on a full send queue, runs on the sender's thread when the sender takes a batch
    // (after it started that batch's send), instead of on a thread-pool worker woken for it: once per batch, that wake-up
    // and the idle worker's spinning after it cost more CPU than the batcher's turn of encoding one batch. The durable
    // batcher reads the outbox, so it keeps its own thread.
    private readonly AsyncSignal _sendRoom;

    // In-memory mode's send window (under _sendGate): batches started and not yet resolved, oldest first.
    private readonly Queue<OutgoingBatch> _window = new();
    private readonly int _maxInFlight;
    // Paced sends reach the transport one after another in the order they were paced (see PacedSendAsync).
    private Task _pacedTail = Task.CompletedTask;

    private long _acknowledged;
    private long _failed;
    private long _failedAtLastFlush;
    private long _openSince;
    private int _rejectedSinceLastBatch;
    private Exception? _lastFailure;
    private readonly Task _batcher;
    private readonly Task _sender;
    private Task? _disposal;

    /// <summary>Creates and starts a pipeline.</summary>
    /// <param name="transport">Where batches go; its <see cref="ITelemetryTransport.Limits"/> size and pace them.</param>
    /// <param name="options">Batching, backpressure and retry settings; validated here. Defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for linger, pacing, backoff and timeouts; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="logger">Where delivery failures are logged; nothing when <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option or a transport limit is out of range.</exception>
    public TelemetryPipeline(ITelemetryTransport transport, TelemetryPipelineOptions? options = null,
        TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _transport = transport;
        Provider = transport.Provider;
        _metricTags = TelemetryMetrics.TagsFor(Provider);
        _options = options ?? new TelemetryPipelineOptions();
        _options.Validate();
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _mode = _options.Backpressure;

        var limits = transport.Limits ?? throw new ArgumentException("The transport declared no limits.", nameof(transport));
        if (limits.MaxMessageBytes < 16) throw new ArgumentOutOfRangeException(nameof(transport), limits.MaxMessageBytes, "Transport MaxMessageBytes must be at least 16.");
        if (limits.MaxRecordsPerMessage < 1) throw new ArgumentOutOfRangeException(nameof(transport), limits.MaxRecordsPerMessage, "Transport MaxRecordsPerMessage must be positive.");
        if (limits.BillingUnitBytes < 0 || limits.BillingOverheadBytes < 0 || limits.MaxMessagesPerSecond < 0 || limits.MaxBytesPerSecond < 0 || double.IsNaN(limits.MaxMessagesPerSecond))
            throw new ArgumentOutOfRangeException(nameof(transport), "Transport billing unit and rate limits must not be negative.");
        if (limits.MaxInFlight < 1) throw new ArgumentOutOfRangeException(nameof(transport), limits.MaxInFlight, "Transport MaxInFlight must be positive.");
        // Durable mode acknowledges the outbox in order and rewinds on failure, one batch at a time.
        _maxInFlight = _options.Outbox is null ? Math.Min(_options.MaxBatchesInFlight, limits.MaxInFlight) : 1;
        int maxRecords = Math.Min(_options.MaxBatchRecords, limits.MaxRecordsPerMessage);
        int maxBytes = Math.Min(_options.MaxBatchBytes ?? limits.MaxMessageBytes, limits.MaxMessageBytes);
        _initialBufferBytes = Math.Min(maxBytes + 1024, 64 * 1024);
        // A second's worth of burst, but always room for one whole message.
        if (limits.MaxMessagesPerSecond > 0)
            _messageBucket = new TokenBucket(limits.MaxMessagesPerSecond, Math.Max(1, limits.MaxMessagesPerSecond), _time);
        if (limits.MaxBytesPerSecond > 0)
            _byteBucket = new TokenBucket(limits.MaxBytesPerSecond, Math.Max(limits.MaxBytesPerSecond, maxBytes), _time);

        if (_options.Outbox is { } outboxOptions)
        {
            // Wait is honoured here, above the outbox (it waits for acknowledgements); the outbox itself only refuses or drops.
            var overflow = _mode == BackpressureMode.DropOldest ? BackpressureMode.DropOldest : BackpressureMode.FailFast;
            _outbox = TelemetryOutbox.Open(outboxOptions with { Overflow = overflow }, _time);
            _stage = new TelemetryRecord[Math.Min(_options.Capacity, StageCapacity)];
            _stageSpare = new TelemetryRecord[_stage.Length];
            _readChunk = new TelemetryRecord[Math.Min(_options.Capacity, ReadChunkCapacity)];
            _ackedSequence = _outbox.AcknowledgedSequence;
        }
        _sendRoom = new AsyncSignal(runWaiterInline: _outbox is null);
        _builder = new TelemetryBatchBuilder(_options.Encoder ?? TelemetryJsonEncoder.Instance, maxRecords, maxBytes, limits.BillingUnitBytes, RentBatch, limits.BillingOverheadBytes);
        _jitter = _options.JitterSource ?? Random.Shared.NextDouble;
        _resilience = TelemetryResilience.Build(_options, transport, _time, _jitter, _metricTags);
        _ring = _outbox is null ? new TelemetryRecord[_options.Capacity] : [];
        _lingerTimer = _time.CreateTimer(static state => ((TelemetryPipeline)state!)._intakeSignal.Set(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        TelemetryMetrics.Register(this);
        if (_outbox is not null) _stop.Token.UnsafeRegister(static state => ((TelemetryPipeline)state!)._intakeSignal.Set(), this);
        _batcher = Task.Run(_outbox is null ? RunBatcherAsync : RunDurableBatcherAsync);
        _sender = Task.Run(RunSenderAsync);
    }

    /// <summary>Records dropped by <see cref="BackpressureMode.DropOldest"/> (in durable mode: by the outbox, see <see cref="TelemetryOutbox.DroppedRecords"/>).</summary>
    public long DroppedRecords => _outbox is { } outbox ? outbox.DroppedRecords : Volatile.Read(ref _dropped);

    /// <summary>The transport's provider name, the <c>provider</c> tag of this pipeline's measurements; null when it names none.</summary>
    public string? Provider { get; }

    /// <summary>Whether this pipeline runs in durable mode (<see cref="TelemetryPipelineOptions.Outbox"/> was set).</summary>
    public bool IsDurable => _outbox is not null;

    /// <summary>
    /// Records that failed for good: permanent errors, exhausted retries or time budget, too large to send, or abandoned
    /// when the drain timed out. In durable mode only permanent errors and records too large to send; the rest stay in the outbox.
    /// </summary>
    public long FailedRecords => Interlocked.Read(ref _failed);

    /// <summary>Records accepted and not yet acknowledged, failed or dropped (queued, batching or in flight; in durable mode, in the outbox).</summary>
    public long PendingRecords => _outbox is { } outbox ? outbox.PendingCount :
        Math.Max(0, Volatile.Read(ref _accepted) - Volatile.Read(ref _dropped) - Interlocked.Read(ref _acknowledged) - Interlocked.Read(ref _failed));

    /// <summary>
    /// Queues a record without waiting. False when the queue is full (in <see cref="BackpressureMode.Wait"/> mode) or closed.
    /// In durable mode it returns once the record is in the outbox (it may wait for a concurrent writer's append).
    /// </summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.QueueFull"/>: The queue (or outbox) is full in <see cref="BackpressureMode.FailFast"/> mode.</exception>
    /// <exception cref="ArgumentException">The record is <c>default</c>, not built by its constructor, or a name is too long for the outbox.</exception>
    /// <exception cref="IOException">Durable mode: the outbox could not be written; the record is not accepted.</exception>
    public bool TryWrite(in TelemetryRecord record)
    {
        if (!record.IsInitialized) ThrowUninitialized();
        if (_outbox is not null) return TryWriteDurable(record);
        bool wake;
        using (_gate.Enter())
        {
            if (_closed) return false;
            var ring = _ring;
            int count = _count;
            if (count == ring.Length)
            {
                if (_mode == BackpressureMode.Wait) return false;
                if (_mode == BackpressureMode.FailFast) ThrowQueueFull(ring.Length);
                // DropOldest: the new record takes the oldest one's slot.
                if (++_head == ring.Length) _head = 0;
                count--;
                _dropped++;
            }
            int tail = _head + count;
            if (tail >= ring.Length) tail -= ring.Length;
            ring[tail] = record;
            _count = count + 1;
            _accepted++;
            wake = _batcherIdle;
            _batcherIdle = false;
        }
        if (wake) _intakeSignal.Set();
        return true;
    }

    /// <summary>Queues a record, waiting for room in <see cref="BackpressureMode.Wait"/> mode. Completes when accepted.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.QueueFull"/>: The queue is full in <see cref="BackpressureMode.FailFast"/> mode.</exception>
    /// <exception cref="ObjectDisposedException">The pipeline is disposed.</exception>
    public ValueTask WriteAsync(TelemetryRecord record, CancellationToken cancellationToken = default) =>
        _outbox is not null ? WriteDurableAsync(record, cancellationToken) : TryWrite(record) ? ValueTask.CompletedTask : WaitAndWriteAsync(record, cancellationToken);

    private async ValueTask WaitAndWriteAsync(TelemetryRecord record, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Task room;
            using (_gate.Enter())
            {
                ObjectDisposedException.ThrowIf(_closed, this);
                if (_count < _ring.Length) room = Task.CompletedTask;
                else room = (_roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (TryWrite(record)) return;
        }
    }

    /// <summary>
    /// Waits until every record accepted before the call has been acknowledged, has failed for good,
    /// or was dropped; a lingering batch is sent at once.
    /// </summary>
    /// <exception cref="IoTException">Records failed since the previous flush; the last failure is the inner exception.</exception>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_outbox is not null)
        {
            await FlushDurableAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool exited;
        using (_gate.Enter())
        {
            exited = _batcherExited;
            if (!exited)
            {
                (_flushRequests ??= []).Add(done);
                _batcherIdle = false;
            }
        }
        long failed = NoMarker;
        if (!exited)
        {
            _intakeSignal.Set();
            failed = await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        if (failed == NoMarker)
        {
            // Closed and drained, or the batcher stopped on a fault before queueing this flush: once the sender is done
            // with what was queued, report what failed since the last flush.
            await _sender.WaitAsync(cancellationToken).ConfigureAwait(false);
            failed = FailedSinceLastFlush();
        }
        if (failed > 0)
            throw new IoTException(IoTErrorKind.Unknown, $"{failed} telemetry records could not be delivered since the previous flush.", "Telemetry",
                "TelemetryUndelivered", innerException: Volatile.Read(ref _lastFailure));
    }

    // Records failed since the previous flush reported them, read once so the count and the new mark agree. Every flush of
    // both modes reports through it.
    private long FailedSinceLastFlush()
    {
        long failed = Interlocked.Read(ref _failed);
        return failed - Interlocked.Exchange(ref _failedAtLastFlush, failed);
    }

    /// <summary>
    /// Stops intake and delivers what is queued, waiting at most <see cref="TelemetryPipelineOptions.DrainTimeout"/>;
    /// after that, sends in progress are cancelled and what is left counts as failed.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        lock (_disposeGate) _disposal ??= DisposeCoreAsync();
        return new ValueTask(_disposal);
    }

    private async Task DisposeCoreAsync()
    {
        TaskCompletionSource? room;
        using (_gate.Enter())
        {
            _closed = true;
            room = _roomWaiter;
            _roomWaiter = null;
            _batcherIdle = false;
        }
        room?.TrySetResult();
        if (_outbox is not null) CloseDurableIntake();
        _intakeSignal.Set();
        var both = Task.WhenAll(_batcher, _sender);
        try
        {
            await both.WaitAsync(_options.DrainTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.DrainTimedOut(_logger, _options.DrainTimeout, PendingRecords);
            await _stop.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Logged below, where the fault is observed.
        }
        Exception? fault = null;
        try
        {
            await both.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            fault = ex;
            Log.StoppedUnexpectedly(_logger, ex);
        }
        _lingerTimer.Dispose();
        if (_outbox is not null) CloseOutbox();
        TelemetryMetrics.Unregister(this);
        long stranded = 0;
        List<TaskCompletionSource<long>>? released = null;
        lock (_sendGate)
        {
            // Only a faulted sender leaves items behind. In memory their records failed, and their flushes are released (to
            // wait for the sender and report) rather than left hanging; a durable pipeline's stay in the outbox and are replayed
            // by the next pipeline on it (its flushes are released by CloseOutbox).
            while (_sendQueue.TryDequeue(out var left) || _window.TryDequeue(out left))
            {
                if (_outbox is not null) continue;
                // Acknowledged but not yet counted when the sender stopped: delivered, not failed.
                stranded += left.Rejected;
                if (left.Count > 0 && left.Done && left.Failure is null) CountSent(left);
                else stranded += left.Count;
                if (left.Flushes is { } flushes) (released ??= []).AddRange(flushes);
            }
            while (_batchPool.TryPop(out var batch)) batch.Buffer.Dispose();
        }
        if (stranded > 0) CountStranded(stranded, fault ?? new InvalidOperationException("The telemetry sender stopped before these records were sent."));
        if (released is not null) foreach (var flush in released) flush.TrySetResult(NoMarker);
        _stop.Dispose();
    }

    [DoesNotReturn]
    private static void ThrowUninitialized() => throw new ArgumentException("The record was not created by a constructor.", "record");

    [DoesNotReturn]
    private static void ThrowQueueFull(int capacity) => throw IoTException.QueueFull($"The telemetry queue is full ({capacity} records) and the pipeline fails fast.");
}
