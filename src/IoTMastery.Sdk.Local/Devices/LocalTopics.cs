namespace IoTMastery.Sdk.Local;

/// <summary>
/// The Local provider's MQTT topic layout. Every topic a device may touch starts with
/// <c>devices/{deviceId}/</c>; the broker refuses anything else.
/// </summary>
/// <remarks>
/// device → fleet: <c>telemetry</c> (JSON batch), <c>state/reported</c> (JSON merge patch),
/// <c>replies/{requestId}</c> (<c>{"status":200,"payload":…}</c>).
/// fleet → device: <c>state/desired</c> (retained <c>{"version":n,"desired":{…}}</c>),
/// <c>commands/{name}/{requestId}</c> (the command payload JSON, or empty).
/// </remarks>
internal static class LocalTopics
{
    public const string Prefix = "devices/";

    public static string Telemetry(string deviceId) => $"devices/{deviceId}/telemetry";

    public static string ReportedState(string deviceId) => $"devices/{deviceId}/state/reported";

    public static string DesiredState(string deviceId) => $"devices/{deviceId}/state/desired";

    public static string Command(string deviceId, string name, string requestId) => $"devices/{deviceId}/commands/{name}/{requestId}";

    public static string CommandFilter(string deviceId) => $"devices/{deviceId}/commands/#";

    public static string Reply(string deviceId, string requestId) => $"devices/{deviceId}/replies/{requestId}";
}
