using System.Buffers;

namespace IoTMastery.Sdk;

/// <summary>
/// One telemetry reading: a named numeric metric of one device at one instant. A value type so
/// the intake path does not allocate per record.
/// </summary>
public readonly record struct TelemetryRecord
{
    /// <summary>The longest metric name accepted, 128 characters.</summary>
    public const int MaxMetricLength = 128;

    /// <summary>Creates a record, rejecting NaN, infinities and empty or oversize names.</summary>
    /// <exception cref="ArgumentException">A field breaks a rule; the message names it.</exception>
    public TelemetryRecord(string deviceId, string metric, double value, DateTimeOffset timestamp)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        ArgumentException.ThrowIfNullOrEmpty(metric);
        if (metric.Length > MaxMetricLength)
            throw new ArgumentException($"Metric names are at most {MaxMetricLength} characters; got {metric.Length}.", nameof(metric));
        if (!double.IsFinite(value))
            throw new ArgumentException($"Telemetry values must be finite numbers; got {value} for metric '{ErrorText.Escape(metric)}'.", nameof(value));
        DeviceId = deviceId;
        Metric = metric;
        Value = value;
        Timestamp = timestamp;
    }

    // The batch decoder's constructor: it has already checked every rule the public constructor and Sequence's init check
    // (names non-empty, metric length, finite value, sequence positive or 0 for none), so it only stores.
    internal TelemetryRecord(string deviceId, string metric, double value, DateTimeOffset timestamp, long sequence)
    {
        DeviceId = deviceId;
        Metric = metric;
        Value = value;
        Timestamp = timestamp;
        _sequence = sequence;
    }

    /// <summary>The device that produced the reading.</summary>
    public string DeviceId { get; }

    /// <summary>The metric name, for example <c>temperature</c>.</summary>
    public string Metric { get; }

    /// <summary>The reading; always finite.</summary>
    public double Value { get; }

    /// <summary>When the reading was taken.</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary>
    /// The record's outbox sequence number, its deduplication key in durable mode: a durable
    /// <see cref="TelemetryPipeline"/> sets it on records read back from its on-disk outbox, and
    /// <see cref="TelemetryJson.ReadBatch"/> sets it from the <c>"s"</c> field. <see langword="null"/> otherwise.
    /// Stored as a plain <see cref="long"/> (0 = none), so the record stays a small allocation-free value.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to zero or a negative number.</exception>
    public long? Sequence
    {
        get => _sequence == 0 ? null : _sequence;
        init
        {
            if (value is <= 0) throw new ArgumentOutOfRangeException(nameof(Sequence), value, "A sequence number must be positive.");
            _sequence = value ?? 0;
        }
    }

    private readonly long _sequence;

    /// <summary>False for <c>default(TelemetryRecord)</c>, which no constructor produced.</summary>
    public bool IsInitialized => DeviceId is not null;

    /// <summary>
    /// Decodes one telemetry batch, a JSON array of <c>{"d":deviceId,"m":metric,"v":value,"t":unixMilliseconds}</c> objects
    /// (with <c>"s"</c> becoming <see cref="Sequence"/>), as the SDK's device side sends it, and appends its records to
    /// <paramref name="output"/>. Returns how many it appended. A reader that reuses its list allocates nothing per record
    /// in steady state: device ids and metric names are interned in a bounded process-wide cache. On a malformed batch
    /// nothing is appended (the list is left as it was) and a <see cref="FormatException"/> says why and at which byte,
    /// without quoting the payload. Thread-safe.
    /// </summary>
    /// <param name="utf8Json">The batch as UTF-8 JSON.</param>
    /// <param name="output">The list the records are appended to; its existing items are kept.</param>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> is null.</exception>
    /// <exception cref="FormatException">The payload is not a well-formed telemetry batch.</exception>
    public static int DecodeBatch(ReadOnlySpan<byte> utf8Json, List<TelemetryRecord> output) =>
        TelemetryBatchDecoder.Shared.Decode(utf8Json, output);

    /// <summary>
    /// As <see cref="DecodeBatch(ReadOnlySpan{byte}, List{TelemetryRecord})"/>, for a payload in several segments (an MQTT or
    /// pipe buffer), without copying it into one array first.
    /// </summary>
    /// <param name="utf8Json">The batch as UTF-8 JSON, possibly split across segments.</param>
    /// <param name="output">The list the records are appended to; its existing items are kept.</param>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> is null.</exception>
    /// <exception cref="FormatException">The payload is not a well-formed telemetry batch.</exception>
    public static int DecodeBatch(in ReadOnlySequence<byte> utf8Json, List<TelemetryRecord> output) =>
        TelemetryBatchDecoder.Shared.Decode(utf8Json, output);
}
