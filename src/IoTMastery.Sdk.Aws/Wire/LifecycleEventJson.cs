using System.Text.Json;

namespace IoTMastery.Sdk.Aws;

/// <summary>Reads the lifecycle event payload published on <c>$aws/events/presence/{connected|disconnected}/{clientId}</c>.</summary>
internal static class LifecycleEventJson
{
    private const string Prefix = "$aws/events/presence/";

    /// <summary>Parses one event; false (never an exception) when the topic or payload is not a documented connect/disconnect event.</summary>
    public static bool TryParse(string topic, ReadOnlySpan<byte> payload, out DeviceLifecycleEvent? lifecycleEvent)
    {
        lifecycleEvent = null;
        if (!topic.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var levels = topic[Prefix.Length..].Split('/', 2);
        if (levels.Length != 2 || levels[1].Length == 0) return false;
        DeviceLifecycleEventType type;
        if (levels[0] == "connected") type = DeviceLifecycleEventType.Connected;
        else if (levels[0] == "disconnected") type = DeviceLifecycleEventType.Disconnected;
        else return false;
        try
        {
            using var doc = JsonDocument.Parse(payload.ToArray());
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return false;
            // The topic and the payload must tell the same story; a mismatch means the message is not AWS's.
            if (ReadString(root, "clientId") is not { Length: > 0 } clientId || clientId != levels[1]) return false;
            if (ReadString(root, "eventType") != levels[0]) return false;
            if (ReadInt64(root, "timestamp") is not { } ms || ms < 0 || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()) return false;
            if (ReadString(root, "sessionIdentifier") is not { } session || ReadString(root, "principalIdentifier") is not { } principal) return false;
            if (ReadInt64(root, "versionNumber") is not { } version) return false;
            if (!Optional(root, "ipAddress", JsonValueKind.String) || !Optional(root, "disconnectReason", JsonValueKind.String)
                || !OptionalBool(root, "clientInitiatedDisconnect", out var clientInitiated))
                return false;
            lifecycleEvent = new DeviceLifecycleEvent
            {
                ClientId = clientId,
                EventType = type,
                Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(ms),
                SessionIdentifier = session,
                PrincipalIdentifier = principal,
                VersionNumber = version,
                IpAddress = ReadString(root, "ipAddress"),
                ClientInitiatedDisconnect = clientInitiated,
                DisconnectReason = ReadString(root, "disconnectReason"),
            };
            return true;
        }
        // GetString throws InvalidOperationException on invalid UTF-8 or a lone surrogate, which JsonDocument.Parse does not check.
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return false;
        }
    }

    private static string? ReadString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? ReadInt64(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : null;

    // Absent is fine; present with the wrong JSON type is not.
    private static bool Optional(JsonElement root, string name, JsonValueKind kind) =>
        !root.TryGetProperty(name, out var value) || value.ValueKind == kind;

    private static bool OptionalBool(JsonElement root, string name, out bool? result)
    {
        result = null;
        if (!root.TryGetProperty(name, out var value)) return true;
        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) return false;
        result = value.GetBoolean();
        return true;
    }
}
