
namespace IoTMastery.Sdk.Aws;

/// <summary>
/// Device connect/disconnect lifecycle events, read from AWS IoT's <c>$aws/events/presence/+/+</c> topics over the
/// service MQTT connection (<see cref="AwsIoTOptions.ServiceMqttClientId"/>). Malformed messages are counted and skipped.
/// </summary>
internal sealed class AwsLifecycleEvents
{
    private readonly AwsServiceConnection? _connection;

    internal AwsLifecycleEvents(AwsServiceConnection? connection) => _connection = connection;

    /// <summary>Messages on the presence topics that were not a documented connect/disconnect event and were skipped.</summary>
    public long MalformedEventCount => _connection?.MalformedPresenceCount ?? 0;

    /// <summary>
    /// Streams lifecycle events of every client as they arrive, until cancelled. AWS may duplicate them or deliver
    /// them out of order; order one client's events by <see cref="DeviceLifecycleEvent.VersionNumber"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">No <see cref="AwsIoTOptions.ServiceMqttClientId"/>, or its policy refused the presence subscription.</exception>
    public IAsyncEnumerable<DeviceLifecycleEvent> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        if (_connection is null)
            throw new NotSupportedException("Lifecycle events from AWS IoT need AwsIoTOptions.ServiceMqttClientId and ServiceMqttCertificate: they are published on $aws/events/presence/+/+ and AWS has no HTTP subscribe.");
        if (!_connection.PresenceSubscribed)
            throw new NotSupportedException("AWS IoT refused the service connection's subscription to $aws/events/presence/+/+: allow iot:Subscribe on topicfilter/$aws/events/presence/* and iot:Receive on topic/$aws/events/presence/* in its policy.");
        return _connection.ReadPresenceAsync(cancellationToken);
    }
}
