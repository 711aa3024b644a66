namespace IoTMastery.Sdk;

/// <summary>
/// What a full buffer does with a new record: the pipeline's intake queue (<see cref="TelemetryPipelineOptions.Backpressure"/>)
/// or an outbox over its disk bound (<see cref="TelemetryOutboxOptions.Overflow"/>).
/// </summary>
public enum BackpressureMode
{
    /// <summary>
    /// A device's <c>SendTelemetryAsync</c> waits for room in the intake queue.
    /// Pipeline only: an outbox append returns at once, so <see cref="TelemetryOutboxOptions.Overflow"/> refuses this mode.
    /// </summary>
    Wait,

    /// <summary>
    /// The oldest queued record is dropped and counted (the <c>iotmastery.telemetry.records.dropped</c> metric, see
    /// <see cref="Diagnostics.IoTDiagnostics"/>). An outbox deletes its oldest whole segments, acknowledged or not, until the
    /// append fits; unacknowledged records they held are never delivered (a durable pipeline counts them in the same metric).
    /// </summary>
    DropOldest,

    /// <summary>
    /// The write fails at once with an <see cref="IoTException"/> of kind <see cref="IoTErrorKind.QueueFull"/> (an outbox's
    /// append: <see cref="IoTErrorKind.OutboxFull"/>) and stores nothing; accepted records are never dropped.
    /// </summary>
    FailFast,
}

/// <summary>Batching, backpressure and retry settings of a <see cref="TelemetryPipeline"/>.</summary>
public sealed record TelemetryPipelineOptions
{
    /// <summary>
    /// Records the intake queue holds before backpressure applies. Default 100,000. The batcher may be
    /// encoding one more queue-full taken earlier, so memory is about twice this many records.
    /// </summary>
    public int Capacity { get; init; } = 100_000;

    /// <summary>What a full queue does. Default <see cref="BackpressureMode.Wait"/>.</summary>
    public BackpressureMode Backpressure { get; init; } = BackpressureMode.Wait;

    /// <summary>Most records in one batch; also capped by the transport. Default 512.</summary>
    public int MaxBatchRecords { get; init; } = 512;

    /// <summary>Most bytes in one batch; <see langword="null"/> takes the transport's maximum message size.</summary>
    public int? MaxBatchBytes { get; init; }

    /// <summary>How long a partly filled batch waits for more records before it is sent. Default 10 ms.</summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Most send attempts per batch, including the first; only transient failures are retried. Default 6.</summary>
    public int MaxAttempts { get; init; } = 6;

    /// <summary>First retry delay; doubles per attempt with full jitter. Default 200 ms.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest delay between attempts. Default 30 s.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one send attempt may take. Default 30 s; between 10 ms and 24 h.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long disposal waits for queued records to be delivered. Default 10 s.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The total time one batch may spend in attempts and retry waits before its records are marked
    /// failed, so nothing retries forever. Default 2 minutes.
    /// </summary>
    public TimeSpan BatchDeliveryTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Share of transient failures within <see cref="CircuitBreakerSamplingDuration"/> that opens the circuit. Default 0.5.</summary>
    public double CircuitBreakerFailureRatio { get; init; } = 0.5;

    /// <summary>Attempts needed within the sampling window before the circuit may open. Default 10; at least 2.</summary>
    public int CircuitBreakerMinimumThroughput { get; init; } = 10;

    /// <summary>The window over which the failure ratio is measured. Default 30 s.</summary>
    public TimeSpan CircuitBreakerSamplingDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open circuit rejects attempts before one trial attempt (half-open). Default 5 s.</summary>
    public TimeSpan CircuitBreakerBreakDuration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Encoded batches that may wait for the sender; the batcher pauses beyond that. Default 4.</summary>
    public int MaxPendingBatches { get; init; } = 4;

    /// <summary>
    /// Batches sent and not yet acknowledged at one time. Default 4; between 1 and 256; 1 sends one batch at a time.
    /// More than one hides the acknowledgement round trip (an MQTT PUBACK) behind the next sends. Only transports that
    /// process a connection's messages in order use more than one (MQTT QoS 1, capped by the MQTT client at the broker's
    /// Receive Maximum); the others send one at a time whatever this says, so each device's records keep their order.
    /// Batches are resolved in the order they were sent: after a transient failure no new batch starts until the failed
    /// one is delivered (or given up), later batches of the window retry only after it, and later batches the broker had
    /// already acknowledged are sent again after it, so the last copy of every record arrives in order (at-least-once, as
    /// retries already are). Durable mode (<see cref="Outbox"/>) sends one batch at a time.
    /// </summary>
    public int MaxBatchesInFlight { get; init; } = 4;

    /// <summary>How records become message bytes. <see langword="null"/> (default) uses <see cref="TelemetryJsonEncoder"/>.</summary>
    internal ITelemetryEncoder? Encoder { get; init; }

    /// <summary>
    /// Turns on durable mode: records are stored in an on-disk outbox (segment files) in this directory before a write
    /// completes, and survive crashes and outages until acknowledged. <see langword="null"/> (default) keeps records in
    /// memory only. <see cref="TelemetryOutboxOptions.Overflow"/> is set from <see cref="Backpressure"/>
    /// (<see cref="BackpressureMode.DropOldest"/> stays, otherwise <see cref="BackpressureMode.FailFast"/>, which
    /// <see cref="BackpressureMode.Wait"/> waits on). See <see cref="TelemetryPipeline"/> for the semantics.
    /// </summary>
    public TelemetryOutboxOptions? Outbox { get; init; }

    // Tests pin the jitter sample to make backoff deterministic; null uses Random.Shared.
    internal Func<double>? JitterSource { get; init; }

    /// <summary>Checks the settings; throws <see cref="ArgumentOutOfRangeException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Capacity < 1) throw new ArgumentOutOfRangeException(nameof(Capacity), Capacity, "Capacity must be positive.");
        if (!Enum.IsDefined(Backpressure)) throw new ArgumentOutOfRangeException(nameof(Backpressure), Backpressure, "Unknown backpressure mode.");
        if (MaxBatchRecords < 1) throw new ArgumentOutOfRangeException(nameof(MaxBatchRecords), MaxBatchRecords, "MaxBatchRecords must be positive.");
        if (MaxBatchBytes is < 256) throw new ArgumentOutOfRangeException(nameof(MaxBatchBytes), MaxBatchBytes, "MaxBatchBytes must be at least 256.");
        if (Linger < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Linger), Linger, "Linger must not be negative.");
        if (MaxAttempts is < 1 or > 100) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "MaxAttempts must be between 1 and 100.");
        if (RetryBaseDelay <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RetryBaseDelay), RetryBaseDelay, "RetryBaseDelay must be positive.");
        if (RetryMaxDelay < RetryBaseDelay) throw new ArgumentOutOfRangeException(nameof(RetryMaxDelay), RetryMaxDelay, "RetryMaxDelay must be at least RetryBaseDelay.");
        if (AttemptTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(AttemptTimeout), AttemptTimeout, "AttemptTimeout must be positive.");
        if (DrainTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(DrainTimeout), DrainTimeout, "DrainTimeout must not be negative.");
        // Polly's own bounds: timeouts 10 ms..24 h, breaker durations at least 500 ms, throughput at least 2.
        if (AttemptTimeout < MinTimeout || AttemptTimeout > MaxTimeout) throw new ArgumentOutOfRangeException(nameof(AttemptTimeout), AttemptTimeout, "AttemptTimeout must be between 10 ms and 24 h.");
        if (BatchDeliveryTimeout < AttemptTimeout || BatchDeliveryTimeout > MaxTimeout) throw new ArgumentOutOfRangeException(nameof(BatchDeliveryTimeout), BatchDeliveryTimeout, "BatchDeliveryTimeout must be at least AttemptTimeout and at most 24 h.");
        if (!(CircuitBreakerFailureRatio > 0 && CircuitBreakerFailureRatio <= 1)) throw new ArgumentOutOfRangeException(nameof(CircuitBreakerFailureRatio), CircuitBreakerFailureRatio, "CircuitBreakerFailureRatio must be above 0 and at most 1.");
        if (CircuitBreakerMinimumThroughput < 2) throw new ArgumentOutOfRangeException(nameof(CircuitBreakerMinimumThroughput), CircuitBreakerMinimumThroughput, "CircuitBreakerMinimumThroughput must be at least 2.");
        if (CircuitBreakerSamplingDuration < MinBreakerDuration || CircuitBreakerSamplingDuration > MaxTimeout) throw new ArgumentOutOfRangeException(nameof(CircuitBreakerSamplingDuration), CircuitBreakerSamplingDuration, "CircuitBreakerSamplingDuration must be between 500 ms and 24 h.");
        if (CircuitBreakerBreakDuration < MinBreakerDuration || CircuitBreakerBreakDuration > MaxTimeout) throw new ArgumentOutOfRangeException(nameof(CircuitBreakerBreakDuration), CircuitBreakerBreakDuration, "CircuitBreakerBreakDuration must be between 500 ms and 24 h.");
        Outbox?.Validate();
        if (MaxPendingBatches is < 1 or > 1024) throw new ArgumentOutOfRangeException(nameof(MaxPendingBatches), MaxPendingBatches, "MaxPendingBatches must be between 1 and 1024.");
        if (MaxBatchesInFlight is < 1 or > MaxInFlightLimit) throw new ArgumentOutOfRangeException(nameof(MaxBatchesInFlight), MaxBatchesInFlight, "MaxBatchesInFlight must be between 1 and 256.");
    }

    private const int MaxInFlightLimit = 256;
    private static readonly TimeSpan MinTimeout = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(24);
    private static readonly TimeSpan MinBreakerDuration = TimeSpan.FromMilliseconds(500);
}

