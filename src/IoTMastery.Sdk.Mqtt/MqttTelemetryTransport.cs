namespace IoTMastery.Sdk.Mqtt;

/// <summary>
/// Sends each telemetry batch as one QoS 1 publish to a fixed topic; a send completes on PUBACK.
/// Disconnects and timeouts are transient, so the pipeline retries them after the client reconnects.
/// Several sends may be in flight: MQTT keeps one connection's QoS 1 messages in order (PUBLISH and PUBACK, MQTT 5
/// section 4.6), the client hands them to the connection in call order, and it caps them at the broker's Receive Maximum.
/// </summary>
internal sealed class MqttTelemetryTransport : ITelemetryTransport
{
    private readonly MqttDeviceClient _client;
    private readonly string _topic;

    /// <summary>Creates the transport.</summary>
    /// <param name="client">The connection to publish on.</param>
    /// <param name="topic">The telemetry topic, without wildcards.</param>
    /// <param name="limits">The provider's limits; the defaults of <see cref="TelemetryTransportLimits"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">The topic is empty or has wildcards, or a limit is out of range.</exception>
    public MqttTelemetryTransport(MqttDeviceClient client, string topic, TelemetryTransportLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(topic);
        if (topic.AsSpan().IndexOfAny("#+") >= 0)
            throw new ArgumentException($"Telemetry topic '{ErrorText.Escape(topic, 128)}' must not contain wildcards.", nameof(topic));
        limits ??= new TelemetryTransportLimits();
        // 268,435,455 is the largest MQTT packet; a message must also leave room for the topic.
        if (limits.MaxMessageBytes is < 256 or > 268_435_455 - 65_600)
            throw new ArgumentOutOfRangeException(nameof(limits), limits.MaxMessageBytes, "MaxMessageBytes must be between 256 and 268,369,855.");
        if (limits.MaxRecordsPerMessage < 1)
            throw new ArgumentOutOfRangeException(nameof(limits), limits.MaxRecordsPerMessage, "MaxRecordsPerMessage must be positive.");
        _client = client;
        _topic = topic;
        // The client, not this transport, knows the broker's Receive Maximum (it may change on reconnect) and enforces it.
        Limits = limits with { MaxInFlight = ushort.MaxValue };
    }

    /// <inheritdoc />
    public TelemetryTransportLimits Limits { get; }

    /// <inheritdoc />
    public ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken) =>
        new(_client.PublishAsync(_topic, batch.Payload, MqttQualityOfService.AtLeastOnce, retain: false, cancellationToken));

    /// <inheritdoc />
    public string Provider => _client.Provider;

    /// <inheritdoc />
    public bool IsTransient(Exception exception) => exception switch
    {
        IoTException iot => iot.IsTransient,
        TimeoutException or IOException => true,
        _ => false,
    };
}
