using System.Globalization;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Presence from the hub's own records: the device identity's <c>connectionState</c>, <c>connectionStateUpdatedTime</c> and
/// <c>lastActivityTime</c> (service REST, <c>GET /devices/{id}</c>), and for the fleet the same fields of the device twins
/// (<c>POST /devices/query</c>). The hub writes them asynchronously and documents no bound, so answers carry no staleness
/// bound. Connection-state events exist only as an Event Hubs route (AMQP), so there is no push stream here.
/// </summary>
internal sealed class AzurePresenceService(IotHubServiceClient hub) : IPresenceService
{
    public long DroppedEventCount => 0;

    public async Task<DevicePresence> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        var identity = await hub.GetDeviceIdentityAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return ToPresence(identity, TwinMapping.Text(identity["connectionStateUpdatedTime"]));
    }

    public IoTPageable<DevicePresence> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new DeviceQuery();
        // A twin has connectionState and lastActivityTime but no connectionStateUpdatedTime: Since is only on GetAsync.
        return AzureDeviceRegistry.QueryPageable(hub, "presence", query, AzureDeviceRegistry.BuildQuery(query), twin => ToPresence(twin, since: null), cancellationToken);
    }

    public IAsyncEnumerable<PresenceEvent> ReadEventsAsync(CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("IoT Hub publishes connection-state events only to an Event Hubs route (AMQP), which this provider does not read; " +
            "poll GetAsync/ListAsync, or route 'DeviceConnectionStateEvents' to the built-in endpoint and read them from Event Hubs.");

    internal static DevicePresence ToPresence(JsonObject identityOrTwin, string? since) => new()
    {
        DeviceId = TwinMapping.Text(identityOrTwin["deviceId"]) ?? "",
        Connected = TwinMapping.Text(identityOrTwin["connectionState"]) switch
        {
            "Connected" => true,
            "Disconnected" => false,
            _ => null,
        },
        Since = Time(since),
        LastActivity = Time(TwinMapping.Text(identityOrTwin["lastActivityTime"])),
        MaxStaleness = null,
    };

    // The hub writes 0001-01-01T00:00:00 for "never"; that is no time at all.
    private static DateTimeOffset? Time(string? text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) && t.Year > 1
            ? t : null;
}
