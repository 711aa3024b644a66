using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Presence from the hub's own records: the device identity's <c>connectionState</c>, <c>connectionStateUpdatedTime</c> and
/// <c>lastActivityTime</c> (service REST, <c>GET /devices/{id}</c>), and for the fleet the same fields of the device twins
/// (<c>POST /devices/query</c>). The hub writes them asynchronously and documents no bound, so answers carry no staleness bound.
/// <para>
/// With <see cref="AzureIoTOptions.ConnectionStateEvents"/> (a route of <c>DeviceConnectionStateEvents</c> to the built-in
/// endpoint) the provider also reads the hub's connection-state events: <see cref="ReadEventsAsync"/> streams them, and a
/// point or fleet answer takes the later of the event and the polled record (the event's time against
/// <c>connectionStateUpdatedTime</c>; a twin has no such time, so there the event wins). The hub documents these events as
/// snapshots of the connection state taken every 60 seconds and delivers them through Event Hubs with no stated latency, so
/// the answers still carry no bound. The events carry no disconnect reason, so <see cref="DevicePresence.DisconnectReason"/> stays null.
/// </para>
/// </summary>
internal sealed class AzurePresenceService(IotHubServiceClient hub, AzureConnectionStateEvents? events = null) 
{
    public long DroppedEventCount => events?.Table.DroppedEventCount ?? 0;

    public async Task<DevicePresence> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        events?.EnsureStarted();
        var identity = await hub.GetDeviceIdentityAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return Merge(ToPresence(identity, TwinMapping.Text(identity["connectionStateUpdatedTime"])));
    }

    public IoTPageable<DevicePresence> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new DeviceQuery();
        var sql = AzureDeviceRegistry.BuildQuery(query);
        events?.EnsureStarted();
        // A twin has connectionState and lastActivityTime but no connectionStateUpdatedTime: Since comes from GetAsync or an event.
        return AzureDeviceRegistry.QueryPageable(hub, "presence", query, sql, twin => Merge(ToPresence(twin, since: null)), cancellationToken);
    }

    public IAsyncEnumerable<DevicePresence> ReadEventsAsync(CancellationToken cancellationToken = default) =>
        events is null
            ? throw new NotSupportedException("IoT Hub publishes connection-state events only through a message route to an Event Hubs endpoint; " +
                "route 'DeviceConnectionStateEvents' to the built-in endpoint and set AzureIoTOptions.ConnectionStateEvents, or poll GetPresenceAsync/ListPresenceAsync.")
            : ReadAsync(events, cancellationToken);

    private static async IAsyncEnumerable<DevicePresence> ReadAsync(AzureConnectionStateEvents events, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reader = events.Table.ReadAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            // The first MoveNextAsync subscribes this reader to the table; only then is the endpoint read, so nothing applied
            // after this call is missed.
            var first = reader.MoveNextAsync();
            events.EnsureStarted();
            if (!await first.ConfigureAwait(false)) yield break;
            yield return reader.Current;
            while (await reader.MoveNextAsync().ConfigureAwait(false)) yield return reader.Current;
        }
        finally
        {
            await reader.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The polled answer, or the last connection-state event where that is newer (or the polled answer has no time).</summary>
    private DevicePresence Merge(DevicePresence polled)
    {
        if (events is null) return polled;
        var seen = events.Table.Get(polled.DeviceId, unknown: null, staleness: null);
        var lastActivity = seen.LastActivity > polled.LastActivity || polled.LastActivity is null ? seen.LastActivity ?? polled.LastActivity : polled.LastActivity;
        if (seen.Since is not { } at || polled.Since > at) return polled with { LastActivity = lastActivity };
        return polled with { Connected = seen.Connected, Since = at, LastActivity = lastActivity };
    }

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
