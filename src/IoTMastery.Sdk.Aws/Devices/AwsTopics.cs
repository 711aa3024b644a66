namespace IoTMastery.Sdk.Aws;

/// <summary>
/// MQTT topics: AWS reserved shadow/jobs/lifecycle topics (AWS IoT Developer Guide, "Reserved topics") and the SDK's own application topics,
/// which stay within AWS's 256-byte / 7-slash limit for any valid thing name.
/// </summary>
internal static class AwsTopics
{
    public static string Shadow(string thing) => $"$aws/things/{thing}/shadow";

    public static string ShadowGet(string thing) => Shadow(thing) + "/get";

    public static string ShadowUpdate(string thing) => Shadow(thing) + "/update";

    public static string ShadowDelta(string thing) => Shadow(thing) + "/update/delta";

    public static string ShadowGetAccepted(string thing) => Shadow(thing) + "/get/accepted";

    public static string ShadowGetRejected(string thing) => Shadow(thing) + "/get/rejected";

    public static string ShadowUpdateAccepted(string thing) => Shadow(thing) + "/update/accepted";

    public static string ShadowUpdateRejected(string thing) => Shadow(thing) + "/update/rejected";

    public static string PresenceConnected(string clientId) => $"$aws/events/presence/connected/{clientId}";

    public static string PresenceDisconnected(string clientId) => $"$aws/events/presence/disconnected/{clientId}";

    public const string PresenceFilter = "$aws/events/presence/+/+";

    public static string Telemetry(string thing) => $"iotmastery/{thing}/telemetry";

    public const string TelemetryFilter = "iotmastery/+/telemetry";

    public static string Command(string thing, string name, string requestId) => $"iotmastery/{thing}/commands/{name}/{requestId}";

    public static string CommandFilter(string thing) => $"iotmastery/{thing}/commands/+/+";

    public static string Reply(string thing, string requestId) => $"iotmastery/{thing}/replies/{requestId}";

    public const string ReplyFilter = "iotmastery/+/replies/+";
}
