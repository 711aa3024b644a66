namespace IoTMastery.Sdk;

/// <summary>The fleet side of telemetry: consume what devices send.</summary>
public interface ITelemetryChannel
{
    /// <summary>
    /// Streams telemetry records from every device as they arrive, until cancelled. Records of one
    /// device arrive in the order the device sent them.
    /// </summary>
    IAsyncEnumerable<TelemetryRecord> ReadAllAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Subscribes to telemetry from every device and returns once the subscription is live on the provider's peer: a record
    /// a device sends after this returns is read by the subscription, so no delay is needed before devices send. Dispose the
    /// subscription to unsubscribe.
    /// </summary>
    /// <remarks>
    /// The default suits a channel whose reader attaches when <see cref="ReadAllAsync"/>'s first read starts (a reader on a
    /// connection that already holds its broker subscription, or a durable subscription that keeps what arrives): it starts
    /// that read and returns. A channel whose reader is positioned later overrides it.
    /// </remarks>
    /// <exception cref="NotSupportedException">The provider cannot consume telemetry as configured (<see cref="ProviderCapabilities.TelemetryConsumption"/>).</exception>
    Task<TelemetrySubscription> SubscribeAsync(CancellationToken cancellationToken = default) =>
        TelemetrySubscription.StartAsync(ReadAllAsync, null, cancellationToken);
}
