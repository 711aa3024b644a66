using System.Globalization;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// Presence from the device resource: <c>lastHeartbeatTime</c> (MQTT PINGREQ), <c>lastEventTime</c>, <c>lastStateTime</c>,
/// <c>lastErrorTime</c> and <c>lastErrorStatus</c>. Cloud IoT Core keeps no connection state and pushes no connect events, so
/// <see cref="DevicePresence.Connected"/> is always null here; its docs say the times "may be stale by a few minutes" and give
/// no bound, so neither does this.
/// </summary>
internal sealed class GcpPresenceService(CloudIotClient client) : IPresenceService
{
    // snake_case paths, as the v1 API's fieldMask takes them; blocked and metadata for the registry's status/attribute filters.
    private const string PresenceFields = "last_heartbeat_time,last_event_time,last_state_time,last_error_time,last_error_status";

    public long DroppedEventCount => 0;

    public async Task<DevicePresence> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        var device = await GcpDeviceRegistry.Call(deviceId, () => client.GetDeviceAsync(deviceId, PresenceFields, cancellationToken)).ConfigureAwait(false);
        // With a field mask the answer may omit the id; the caller's id is the one asked about.
        return ToPresence(deviceId, device);
    }

    public IoTPageable<DevicePresence> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) =>
        GcpDeviceRegistry.ListPageable(client, "presence", query, "blocked,metadata," + PresenceFields,
            d => ToPresence(d["id"]!.GetValue<string>(), d), cancellationToken);

    public IAsyncEnumerable<PresenceEvent> ReadEventsAsync(CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("Cloud IoT Core (and ClearBlade IoT Core) publish no connect/disconnect events; poll GetAsync/ListAsync for the last heartbeat and event times.");

    internal static DevicePresence ToPresence(string deviceId, JsonObject device)
    {
        DateTimeOffset? heartbeat = Time(device["lastHeartbeatTime"]), sent = Time(device["lastEventTime"]), state = Time(device["lastStateTime"]);
        DateTimeOffset? last = null;
        foreach (var t in (ReadOnlySpan<DateTimeOffset?>)[heartbeat, sent, state])
            if (t > last || last is null) last = t ?? last;
        return new DevicePresence
        {
            DeviceId = deviceId,
            Connected = null,
            LastActivity = last,
            LastErrorTime = Time(device["lastErrorTime"]),
            LastError = device["lastErrorStatus"]?["message"] is JsonValue m && m.TryGetValue<string>(out var message) ? message : null,
            MaxStaleness = null,
        };
    }

    // google.protobuf.Timestamp as RFC 3339 text; the epoch (1970-01-01T00:00:00Z) is how an unset time may come back.
    private static DateTimeOffset? Time(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<string>(out var text)
        && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
        && t > DateTimeOffset.UnixEpoch ? t : null;
}
