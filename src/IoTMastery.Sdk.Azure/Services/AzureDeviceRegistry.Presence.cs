namespace IoTMastery.Sdk.Azure;

// Presence on the registry (issue #14): the registry only forwards to AzurePresenceService, which holds the logic.
internal sealed partial class AzureDeviceRegistry
{
    // The identity's connectionState and the twins' fields, with the routed connection-state events where configured.
    public Task<DevicePresence> GetPresenceAsync(string deviceId, CancellationToken cancellationToken = default) =>
        _presence.GetAsync(deviceId, cancellationToken);

    public IoTPageable<DevicePresence> ListPresenceAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) =>
        _presence.ListAsync(query, cancellationToken);

    public IAsyncEnumerable<DevicePresence> ReadPresenceEventsAsync(CancellationToken cancellationToken = default) =>
        _presence.ReadEventsAsync(cancellationToken);

    public long DroppedPresenceEventCount => _presence.DroppedEventCount;
}
