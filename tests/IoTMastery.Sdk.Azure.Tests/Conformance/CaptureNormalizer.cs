using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using IoTMastery.Sdk.Azure.Tests.Double;

namespace IoTMastery.Sdk.Azure.Tests.Conformance;

/// <summary>
/// Reduces captured requests to what must match the official SDK byte for byte: HTTP method, path, query, the headers that
/// matter (If-Match, Content-Type, x-ms-*, the SAS audience and policy) and the JSON body; MQTT CONNECT fields, subscriptions
/// and topics. Per-call randomness (request ids, $rid values, signatures, expiry, client-type strings) is replaced by placeholders.
/// </summary>
public static partial class CaptureNormalizer
{
    private static readonly string[] HttpHeaders = ["if-match", "content-type", "x-ms-max-item-count", "x-ms-continuation", "accept", "host"];

    public static List<string> Normalize(IEnumerable<CapturedRequest> captured) => captured.Select(Normalize).ToList();

    public static string Normalize(CapturedRequest c) => c.Kind switch
    {
        "http" => $"HTTP {c.Method} {c.Path}{c.Query} " + string.Join(" ", HttpHeaders.Where(c.Headers.ContainsKey).Select(h => $"{h}=[{NormalizeHeader(h, c.Headers[h])}]"))
            + $" auth=[{Sas(c.Headers.GetValueOrDefault("authorization"))}] body={Json(c.Body)}",
        "mqtt-connect" => $"CONNECT client={c.Path} user={ClientType().Replace(c.Headers["username"], "$1<client>")} clean={c.Headers["cleanSession"]} keepAlive={c.Headers["keepAlive"]} protocol={c.Headers["protocol"]} password=[{Sas(c.Headers["password"])}]",
        "mqtt-subscribe" => $"SUBSCRIBE {c.Headers["clientId"]} {c.Path} qos={c.Query}",
        "mqtt-publish" => $"PUBLISH {Rid().Replace(c.Path, "$1<rid>")} qos={c.Query} body={(c.Path.Contains("/messages/events/", StringComparison.Ordinal) || c.Path.StartsWith("$iothub/twin/PATCH", StringComparison.Ordinal) ? Json(c.Body) : "<" + c.Body.Length + ">")}",
        _ => c.Kind,
    };

    private static string NormalizeHeader(string name, string value) =>
        name == "content-type" ? value.Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant() : value;

    // Keeps what the hub checks: the audience (sr, decoded) and the policy; the signature itself is verified by the double.
    private static string Sas(string? token)
    {
        if (string.IsNullOrEmpty(token)) return "none";
        var fields = token.Replace("SharedAccessSignature ", "", StringComparison.Ordinal).Split('&').Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        return $"sr={WebUtility.UrlDecode(fields.GetValueOrDefault("sr"))} skn={fields.GetValueOrDefault("skn")} fields={string.Join(",", fields.Keys.Order(StringComparer.Ordinal))}";
    }

    private static string Json(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return "<empty>";
        // Bulk importMode: Node sends "Delete", the swagger and the C# SDK "delete"; the hub accepts both.
        body = System.Text.RegularExpressions.Regex.Replace(body, "\"importMode\":\"(\\w+)\"", m => "\"importMode\":\"" + m.Groups[1].Value.ToLowerInvariant() + "\"");
        try { return Canonical(JsonNode.Parse(body))?.ToJsonString() ?? "null"; }
        catch (System.Text.Json.JsonException) { return "<" + body.Length + " bytes>"; }
    }

    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Canonical).ToArray()),
        _ => node?.DeepClone(),
    };

    [GeneratedRegex(@"(\$rid=)[^&]+")]
    private static partial Regex Rid();

    [GeneratedRegex(@"((?:DeviceClientType|ClientVersion)=)[^&]+")]
    private static partial Regex ClientType();
}
