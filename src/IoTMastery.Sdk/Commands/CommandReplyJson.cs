using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>The <c>{"status":&lt;100-599&gt;,"payload":…}</c> reply devices send on Local and AWS (their MQTT request/response).</summary>
internal static class CommandReplyJson
{
    /// <summary>
    /// The reply, or <see langword="null"/> when it is not that shape or not well-formed JSON. Strict, so a duplicate key or a
    /// bad string anywhere (also inside the payload) is refused here rather than thrown later at whoever reads the payload.
    /// </summary>
    public static CommandResponse? TryParse(ReadOnlySpan<byte> reply) =>
        StrictJson.TryParseObject(reply) is { } obj && obj["status"] is JsonValue status && status.TryGetValue(out int code) && code is >= 100 and <= 599
            ? new CommandResponse(code, obj["payload"]?.DeepClone())
            : null;
}
