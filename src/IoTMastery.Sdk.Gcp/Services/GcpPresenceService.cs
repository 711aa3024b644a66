using System.Globalization;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// Presence from the device resource: <c>lastHeartbeatTime</c> (MQTT PINGREQ), <c>lastEventTime</c>, <c>lastStateTime</c>,
/// <c>lastConfigAckTime</c>, <c>lastErrorTime</c> and <c>lastErrorStatus</c>, stamped by the MQTT bridge. Cloud IoT Core keeps no
/// connection state and pushes no connect events, so by default <see cref="DevicePresence.Connected"/> is null here and no
/// staleness bound is stated (its docs say the times "may be stale by a few minutes").
/// <para>
/// With a fleet keep-alive (<see cref="GcpIoTOptions.PresenceKeepAlive"/>) connectivity is derived by the MQTT keep-alive
/// rule: a client sends something (at least a PINGREQ) within every keep-alive interval and the server drops it after 1.5
/// intervals of silence, so a device heard from within 1.5 × keep-alive is connected and one silent for longer is not, and
/// <see cref="DevicePresence.Since"/> of a disconnected device is its last activity plus that window. The answer can lag the
/// truth by the window (a device that just left still counts as connected until then), which is the stated staleness; on a
/// real cloud the bridge's own write delay comes on top. A connected device's <c>Since</c> is unknown (no session start is kept).
/// </para>
/// </summary>
internal sealed class GcpPresenceService(CloudIotClient client, TimeProvider time, TimeSpan? keepAlive = null)
{
    // snake_case paths, as the v1 API's fieldMask takes them; blocked and metadata for the registry's status/attribute filters.
    private const string PresenceFields = "last_heartbeat_time,last_event_time,last_state_time,last_config_ack_time,last_error_time,last_error_status";

    /// <summary>How long a device may be silent and still count as connected: 1.5 × keep-alive (MQTT 3.1.1 §3.1.2.10).</summary>
    internal TimeSpan? Window { get; } = keepAlive * 1.5;

    public long DroppedEventCount => 0;

    public async Task<DevicePresence> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        var device = await GcpDeviceRegistry.Call(deviceId, () => client.GetDeviceAsync(deviceId, PresenceFields, cancellationToken)).ConfigureAwait(false);
        // With a field mask the answer may omit the id; the caller's id is the one asked about.
        return ToPresence(deviceId, device, time.GetUtcNow(), Window);
    }

    public IoTPageable<DevicePresence> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) =>
        GcpDeviceRegistry.ListPageable(client, "presence", query, "blocked,metadata," + PresenceFields,
            d => ToPresence(d["id"]!.GetValue<string>(), d, time.GetUtcNow(), Window), cancellationToken);

    public IAsyncEnumerable<DevicePresence> ReadEventsAsync(CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("Cloud IoT Core (and ClearBlade IoT Core) publish no connect/disconnect events; poll GetPresenceAsync/ListPresenceAsync for the last heartbeat and event times.");

    /// <summary>The device resource as presence at <paramref name="now"/>; with a <paramref name="window"/>, connectivity by the keep-alive rule.</summary>
    internal static DevicePresence ToPresence(string deviceId, JsonObject device, DateTimeOffset now, TimeSpan? window)
    {
        DateTimeOffset? last = null;
        foreach (var field in (ReadOnlySpan<string>)["lastHeartbeatTime", "lastEventTime", "lastStateTime", "lastConfigAckTime"])
            if (Time(device[field]) is { } t && (last is null || t > last)) last = t;
        bool? connected = window is { } w ? last is { } heard && now - heard <= w : null;
        return new DevicePresence
        {
            DeviceId = deviceId,
            Connected = connected,
            Since = connected == false && last is { } gone ? gone + window : null,
            LastActivity = last,
            LastErrorTime = Time(device["lastErrorTime"]),
            LastError = device["lastErrorStatus"]?["message"] is JsonValue m && m.TryGetValue<string>(out var message) ? message : null,
            MaxStaleness = window,
        };
    }

    // google.protobuf.Timestamp as RFC 3339 text; the epoch (1970-01-01T00:00:00Z) is how an unset time may come back.
    private static DateTimeOffset? Time(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<string>(out var text)
        && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
        && t > DateTimeOffset.UnixEpoch ? t : null;
}
