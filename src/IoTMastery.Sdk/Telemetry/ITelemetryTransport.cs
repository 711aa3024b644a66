namespace IoTMastery.Sdk;

/// <summary>
/// Where a <see cref="TelemetryPipeline"/> sends encoded batches: an MQTT publish, an HTTP publish,
/// a Pub/Sub request. Each provider supplies one, with its limits and its fault classification.
/// </summary>
internal interface ITelemetryTransport
{
    /// <summary>The transport's limits; batches are sized and paced to stay inside them.</summary>
    TelemetryTransportLimits Limits { get; }

    /// <summary>Sends one batch; completes when the broker or service acknowledged it.</summary>
    ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken);

    /// <summary>Whether <paramref name="exception"/> from <see cref="SendAsync"/> may go away if the batch is sent again.</summary>
    bool IsTransient(Exception exception);

    /// <summary>
    /// The provider the batches go to (<c>Local</c>, <c>Aws</c>, <c>Azure</c>, <c>Gcp</c>), the <c>provider</c> tag of the
    /// pipeline's <c>records.sent</c> counter; <see langword="null"/> (the default) leaves the tag off.
    /// </summary>
    string? Provider => null;
}

/// <summary>Limits a transport declares. Zero means "no limit" for the rate fields.</summary>
internal sealed record TelemetryTransportLimits
{
    /// <summary>The largest message the transport accepts, in bytes. Default 128 KiB.</summary>
    public int MaxMessageBytes { get; init; } = 128 * 1024;

    /// <summary>
    /// The metering unit in bytes (AWS 5 KB, Azure 4 KB); batches are packed to fill whole units
    /// instead of crossing into a new one by a few bytes. 0 when not metered.
    /// </summary>
    public int BillingUnitBytes { get; init; }

    /// <summary>
    /// Bytes metered with every message besides the payload (AWS: the topic name; Azure: property
    /// names and values), so packing fills billing units with the whole metered size. Default 0.
    /// </summary>
    public int BillingOverheadBytes { get; init; }

    /// <summary>The most records one message may carry. Default 1000.</summary>
    public int MaxRecordsPerMessage { get; init; } = 1000;

    /// <summary>The most messages per second on one connection; 0 for no limit.</summary>
    public double MaxMessagesPerSecond { get; init; }

    /// <summary>The most bytes per second on one connection; 0 for no limit.</summary>
    public long MaxBytesPerSecond { get; init; }

    /// <summary>
    /// The most sends the transport may have in flight at once. Default 1: concurrent sends (HTTP requests, Pub/Sub
    /// publishes) may overtake one another, which would reorder a device's records. A transport that processes one
    /// connection's sends in the order they were started (MQTT QoS 1: PUBLISH and PUBACK in order) declares more.
    /// </summary>
    public int MaxInFlight { get; init; } = 1;
}

/// <summary>One encoded batch of records, ready for the transport. Valid only during <see cref="ITelemetryTransport.SendAsync"/>.</summary>
internal readonly struct TelemetryBatch
{
    /// <summary>Creates a batch.</summary>
    public TelemetryBatch(ReadOnlyMemory<byte> payload, int recordCount)
    {
        Payload = payload;
        RecordCount = recordCount;
    }

    /// <summary>Creates a batch whose records carry consecutive outbox sequence numbers from <paramref name="firstSequence"/>.</summary>
    public TelemetryBatch(ReadOnlyMemory<byte> payload, int recordCount, long? firstSequence)
        : this(payload, recordCount)
    {
        if (firstSequence is <= 0) throw new ArgumentOutOfRangeException(nameof(firstSequence), firstSequence, "A sequence number must be positive.");
        FirstSequence = firstSequence;
    }

    /// <summary>The encoded records (a JSON array by default). The buffer is reused after the send completes.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>How many records the payload holds.</summary>
    public int RecordCount { get; }

    /// <summary>
    /// In durable mode (<see cref="TelemetryPipelineOptions.Outbox"/>), the outbox sequence number of the first record;
    /// record <c>i</c> of the payload has sequence <c>FirstSequence + i</c> (a batch never spans a gap). Sequence numbers
    /// are unique per outbox and survive restarts, so they are the deduplication key of the at-least-once delivery.
    /// <see langword="null"/> in in-memory mode.
    /// </summary>
    public long? FirstSequence { get; }
}
