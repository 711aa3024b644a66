using System.Text.Json;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>
/// One depth limit for every JSON document the SDK writes and reads back: desired and reported state, command payloads.
/// A document is checked against it before anything is sent or stored, so nothing is ever written that a reader refuses.
/// </summary>
/// <remarks>
/// System.Text.Json writes up to 1000 levels but reads only 64 by default; a document between the two used to be stored
/// and then failed every read. Documents are held to <see cref="MaxDocumentDepth"/>; readers (<see cref="StrictJson"/>)
/// accept <see cref="MaxReadDepth"/>, which leaves room for the envelopes around a document on the wire
/// (<c>{"version":n,"desired":{…}}</c>, a shadow's <c>state.desired</c>, a reply's <c>payload</c>).
/// </remarks>
internal static class JsonLimits
{
    /// <summary>The deepest nesting of objects and arrays in a desired or reported document or patch, or a command payload.</summary>
    public const int MaxDocumentDepth = 32;

    /// <summary>The deepest nesting <see cref="StrictJson"/> reads: a document at the limit plus its envelope.</summary>
    public const int MaxReadDepth = 2 * MaxDocumentDepth;

    /// <summary>
    /// Checks <paramref name="document"/> against the depth limit and <paramref name="maxBytes"/>, and returns its UTF-8 JSON.
    /// </summary>
    /// <param name="document">The document; <see langword="null"/> is JSON <c>null</c>.</param>
    /// <param name="maxBytes">The largest serialized size the caller's provider accepts.</param>
    /// <param name="what">What the document is, for the message (for example "A state patch").</param>
    /// <param name="parameterName">The caller's parameter, for the exception.</param>
    /// <exception cref="ArgumentException">Too deep, too big, or not representable as JSON (NaN, an unpaired surrogate); the message names the limit.</exception>
    public static byte[] Serialize(JsonNode? document, int maxBytes, string what, string parameterName)
    {
        if (FindProblem(document, MaxDocumentDepth) is { } problem)
            throw new ArgumentException($"{what} {problem}.", parameterName);
        byte[] utf8;
        try
        {
            utf8 = JsonSerializer.SerializeToUtf8Bytes(document);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or JsonException or NotSupportedException)
        {
            throw new ArgumentException($"{what} is not representable as JSON: {ex.Message}", parameterName, ex);
        }
        if (utf8.Length > maxBytes)
            throw new ArgumentException($"{what} is at most {maxBytes} bytes of JSON; got {utf8.Length}.", parameterName);
        // Read back once with the reader every consumer uses, so nothing is stored or sent that cannot be read.
        if (!StrictJson.TryParse(utf8, out _))
            throw new ArgumentException($"{what} does not read back as strict JSON.", parameterName);
        return utf8;
    }

    // Depth counts objects and arrays as the reader does ({} is 1). Iterative, so a hostile document built in memory cannot
    // exhaust the stack; stops at the first problem. The writer would silently replace an unpaired surrogate with U+FFFD,
    // altering what the caller stored, so that is refused too.
    private static string? FindProblem(JsonNode? node, int maxDepth)
    {
        var pending = new Stack<(JsonNode? Node, int Depth)>();
        pending.Push((node, 0));
        while (pending.TryPop(out var item))
        {
            switch (item.Node)
            {
                case JsonObject o:
                    if (item.Depth + 1 > maxDepth) return $"nests objects and arrays at most {maxDepth} levels deep; this one is deeper";
                    foreach (var (name, value) in o)
                    {
                        if (HasUnpairedSurrogate(name)) return "has a property name with an unpaired surrogate";
                        pending.Push((value, item.Depth + 1));
                    }
                    break;
                case JsonArray a:
                    if (item.Depth + 1 > maxDepth) return $"nests objects and arrays at most {maxDepth} levels deep; this one is deeper";
                    foreach (var value in a) pending.Push((value, item.Depth + 1));
                    break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                    if (!v.TryGetValue(out string? text) || HasUnpairedSurrogate(text)) return "has a string with an unpaired surrogate";
                    break;
            }
        }
        return null;
    }

    private static bool HasUnpairedSurrogate(string? text)
    {
        if (text is null) return false;
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i])) return true;
        }
        return false;
    }
}
