using System.Buffers;

namespace IoTMastery.Sdk.Local;

/// <summary>What a device publish is for.</summary>
internal enum DevicePublishRoute
{
    /// <summary>Not a topic the device may publish to.</summary>
    Refused,

    /// <summary><c>devices/{id}/telemetry</c>.</summary>
    Telemetry,

    /// <summary><c>devices/{id}/state/reported</c>.</summary>
    ReportedState,

    /// <summary><c>devices/{id}/replies/{requestId}</c>.</summary>
    Reply,
}

/// <summary>The per-device topic rules: a device touches only its own <c>devices/{id}/…</c> topics, and only these.</summary>
internal static class DeviceTopicAcl
{
    /// <summary>Classifies a publish by <paramref name="deviceId"/>; anything not listed in <see cref="LocalTopics"/> for that device is refused.</summary>
    public static DevicePublishRoute ClassifyPublish(string deviceId, string topic, out string? requestId)
    {
        requestId = null;
        var levels = topic.Split('/');
        if (levels.Length < 3 || levels[0] != "devices" || !string.Equals(levels[1], deviceId, StringComparison.Ordinal))
            return DevicePublishRoute.Refused;
        switch (levels.Length)
        {
            case 3 when levels[2] == "telemetry":
                return DevicePublishRoute.Telemetry;
            case 4 when levels[2] == "state" && levels[3] == "reported":
                return DevicePublishRoute.ReportedState;
            case 4 when levels[2] == "replies" && levels[3].Length > 0:
                requestId = levels[3];
                return DevicePublishRoute.Reply;
            default:
                return DevicePublishRoute.Refused;
        }
    }

    /// <summary>
    /// True for <c>devices/{id}/state/desired</c> and for filters under <c>devices/{id}/commands/</c>
    /// (<c>#</c> or narrower); false for everything else, including shared subscriptions.
    /// </summary>
    public static bool MaySubscribe(string deviceId, string filter)
    {
        if (string.Equals(filter, LocalTopics.DesiredState(deviceId), StringComparison.Ordinal)) return true;
        var commands = $"devices/{deviceId}/commands/";
        return filter.Length > commands.Length && filter.StartsWith(commands, StringComparison.Ordinal);
    }

    /// <summary>
    /// What a device restricted to firmware-update traffic may publish: a reported-state patch holding only the
    /// <c>firmware</c> object (the update agent's progress and running version). Telemetry, command replies and any other
    /// reported property are refused until the restriction lifts.
    /// </summary>
    public static bool RestrictedMayPublish(DevicePublishRoute route, System.Buffers.ReadOnlySequence<byte> payload)
    {
        if (route != DevicePublishRoute.ReportedState) return false;
        // A payload that is not a JSON object is refused later as malformed; here it only must not count as firmware.
        var patch = StrictJson.TryParseObject(payload.ToArray());
        return patch is { Count: 1 } && patch.ContainsKey(FirmwareStateContract.PropertyName);
    }

    /// <summary>What the broker delivers to a restricted device: its desired state, where the firmware request travels; never commands.</summary>
    public static bool RestrictedMayReceive(string deviceId, string topic) =>
        string.Equals(topic, LocalTopics.DesiredState(deviceId), StringComparison.Ordinal);
}
