namespace IoTMastery.Sdk;

/// <summary>The fleet side of telemetry: consume what devices send.</summary>
public interface ITelemetryChannel
{
    /// <summary>
    /// Streams telemetry records from every device as they arrive, until cancelled. Records of one
    /// device arrive in the order the device sent them.
    /// </summary>
    IAsyncEnumerable<TelemetryRecord> ReadAllAsync(CancellationToken cancellationToken = default);
}
