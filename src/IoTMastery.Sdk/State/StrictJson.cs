using System.Text.Json;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>
/// Parses JSON from a device or a service and forces every lazy check at once, so a payload is either refused up front
/// or safe to read, merge and store.
/// </summary>
/// <remarks>
/// <see cref="JsonNode.Parse(ReadOnlySpan{byte}, JsonNodeOptions?, JsonDocumentOptions)"/> accepts duplicate keys, invalid UTF-8
/// inside strings and lone surrogate escapes, and throws ArgumentException / InvalidOperationException only when a property
/// or string is first read — past every <c>catch (JsonException)</c>, or never, so the bad text is stored as-is.
/// </remarks>
internal static class StrictJson
{
    private static readonly JsonDocumentOptions ReadOptions = new() { MaxDepth = JsonLimits.MaxReadDepth };

    /// <summary>The payload as a JSON object, or <see langword="null"/> when it is not well-formed JSON (RFC 8259) or not an object.</summary>
    public static JsonObject? TryParseObject(ReadOnlySpan<byte> utf8) => TryParse(utf8, out var node) ? node as JsonObject : null;

    /// <summary>Parses well-formed JSON (JSON <c>null</c> gives a <see langword="null"/> node); false when it is not.</summary>
    public static bool TryParse(ReadOnlySpan<byte> utf8, out JsonNode? node)
    {
        try
        {
            node = JsonNode.Parse(utf8, documentOptions: ReadOptions);
            Touch(node);
            return true;
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            node = null;
            return false;
        }
    }

    // Reads every name and string once; depth is bounded by the parser's MaxDepth (JsonLimits.MaxReadDepth), so the recursion is too.
    private static void Touch(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, value) in o) Touch(value);
                break;
            case JsonArray a:
                foreach (var item in a) Touch(item);
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                _ = v.GetValue<string>();
                break;
        }
    }
}
