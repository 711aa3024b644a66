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
}
