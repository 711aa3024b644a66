using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>
/// Reads vulnerability records in the OSV format (https://ossf.github.io/osv-schema/) strictly: one record, or a JSON array of
/// records. Anything the schema forbids, or this SDK cannot evaluate against firmware versions, is an
/// <see cref="ArgumentException"/> naming the rule and the JSON path, and nothing of the document is returned.
/// </summary>
/// <remarks>
/// Read: <c>id</c> (required, 1-128 of <c>A-Z a-z 0-9 . _ : -</c>), <c>modified</c> (required, RFC 3339), <c>published</c>,
/// <c>withdrawn</c>, <c>summary</c>, <c>severity[]</c> (<c>type</c>, <c>score</c>), <c>database_specific.severity</c>,
/// <c>affected[].ranges[]</c> (<c>SEMVER</c> and <c>ECOSYSTEM</c>, whose versions must be semantic versions, with
/// <c>introduced</c> / <c>fixed</c> / <c>last_affected</c> / <c>limit</c> events, at least one <c>introduced</c>;
/// <c>GIT</c> ranges are checked for shape and ignored) and <c>affected[].versions[]</c>. Other members are ignored, as the
/// schema allows. Limits: <see cref="MaxDocumentBytes"/> per document, <see cref="MaxRecords"/> records.
/// </remarks>
internal static class OsvAdvisories
{
    /// <summary>The largest document read.</summary>
    public const int MaxDocumentBytes = 4 * 1024 * 1024;

    /// <summary>The most records in one document.</summary>
    public const int MaxRecords = 10_000;

    private const int MaxText = 4096;

    /// <summary>Reads a whole stream (at most <see cref="MaxDocumentBytes"/>) and parses it.</summary>
    /// <exception cref="ArgumentException">The document is too big, not strict JSON, or breaks the schema.</exception>
    public static async Task<IReadOnlyList<FirmwareAdvisory>> ReadAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            // Bounded before it is buffered: a huge or endless stream stops at the limit.
            if (buffer.Length + read > MaxDocumentBytes)
                throw Invalid($"An OSV document is at most {MaxDocumentBytes} bytes.", "$");
            buffer.Write(chunk, 0, read);
        }
        return Parse(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    /// <summary>Reads an OSV file.</summary>
    /// <exception cref="ArgumentException">The document is too big, not strict JSON, or breaks the schema.</exception>
    public static async Task<IReadOnlyList<FirmwareAdvisory>> ReadFileAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, useAsync: true);
        return await ReadAsync(file, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Parses one record or an array of records.</summary>
    /// <exception cref="ArgumentException">The document is too big, not strict JSON, or breaks the schema.</exception>
    public static IReadOnlyList<FirmwareAdvisory> Parse(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxDocumentBytes)
            throw Invalid($"An OSV document is at most {MaxDocumentBytes} bytes.", "$");
        if (!StrictJson.TryParse(utf8, out var root))
            throw Invalid("Not well-formed JSON (RFC 8259, no duplicate names, valid UTF-8).", "$");
        switch (root)
        {
            case JsonObject record:
                return [Record(record, "$")];
            case JsonArray array:
                if (array.Count > MaxRecords)
                    throw Invalid($"An OSV document holds at most {MaxRecords} records.", "$");
                var list = new List<FirmwareAdvisory>(array.Count);
                for (var i = 0; i < array.Count; i++)
                    list.Add(Record(array[i] as JsonObject ?? throw Invalid("A record must be a JSON object.", $"$[{i}]"), $"$[{i}]"));
                if (list.GroupBy(a => a.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
                    throw Invalid($"The id '{twice.Key}' appears more than once.", "$");
                return list;
            default:
                throw Invalid("An OSV document is a record (JSON object) or an array of records.", "$");
        }
    }

    private static FirmwareAdvisory Record(JsonObject o, string path)
    {
        var id = RequiredString(o, "id", path);
        if (id.Length > 128 || !(char.IsAsciiLetterOrDigit(id[0]) && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-')))
            throw Invalid($"id '{ErrorText.Escape(id, 80)}' must be 1-128 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit.", path + ".id");
        var modified = Timestamp(o, "modified", path) ?? throw Invalid("modified is required (an RFC 3339 timestamp).", path + ".modified");

        string? cvss = null;
        if (o["severity"] is { } severityNode)
        {
            var severity = severityNode as JsonArray ?? throw Invalid("severity must be an array.", path + ".severity");
            for (var i = 0; i < severity.Count; i++)
            {
                var entry = severity[i] as JsonObject ?? throw Invalid("A severity entry must be an object.", $"{path}.severity[{i}]");
                RequiredString(entry, "type", $"{path}.severity[{i}]");
                cvss ??= RequiredString(entry, "score", $"{path}.severity[{i}]");
            }
        }
        string? label = null;
        if (o["database_specific"] is JsonObject specific && specific["severity"] is { } labelNode)
            label = Text(labelNode, path + ".database_specific.severity");

        var ranges = new List<AdvisoryRange>();
        var versions = new List<string>();
        if (o["affected"] is { } affectedNode)
        {
            var affected = affectedNode as JsonArray ?? throw Invalid("affected must be an array.", path + ".affected");
            for (var a = 0; a < affected.Count; a++)
            {
                var ap = $"{path}.affected[{a}]";
                var entry = affected[a] as JsonObject ?? throw Invalid("An affected entry must be an object.", ap);
                if (entry["ranges"] is { } rangesNode)
                {
                    var list = rangesNode as JsonArray ?? throw Invalid("ranges must be an array.", ap + ".ranges");
                    for (var r = 0; r < list.Count; r++)
                    {
                        if (Range(list[r] as JsonObject ?? throw Invalid("A range must be an object.", $"{ap}.ranges[{r}]"), $"{ap}.ranges[{r}]") is { } range)
                            ranges.Add(range);
                    }
                }
                if (entry["versions"] is { } versionsNode)
                {
                    var list = versionsNode as JsonArray ?? throw Invalid("versions must be an array.", ap + ".versions");
                    for (var v = 0; v < list.Count; v++)
                        versions.Add(Text(list[v], $"{ap}.versions[{v}]"));
                }
            }
        }

        return new FirmwareAdvisory
        {
            Id = id,
            Summary = o["summary"] is { } summary ? Text(summary, path + ".summary") : null,
            Severity = label ?? cvss,
            CvssVector = cvss,
            Modified = modified,
            Published = Timestamp(o, "published", path),
            Withdrawn = Timestamp(o, "withdrawn", path),
            Ranges = ranges,
            Versions = versions.Distinct(StringComparer.Ordinal).ToArray(),
        };
    }

    private static AdvisoryRange? Range(JsonObject o, string path)
    {
        var type = RequiredString(o, "type", path);
        var eventsNode = o["events"] as JsonArray ?? throw Invalid("events is required (an array).", path + ".events");
        if (eventsNode.Count == 0)
            throw Invalid("events must not be empty.", path + ".events");
        if (type == "GIT")
            return null;
        if (type is not ("SEMVER" or "ECOSYSTEM"))
            throw Invalid($"Range type '{ErrorText.Escape(type, 40)}' is not one of SEMVER, ECOSYSTEM, GIT.", path + ".type");
        var events = new List<AdvisoryEvent>(eventsNode.Count);
        for (var i = 0; i < eventsNode.Count; i++)
        {
            var ep = $"{path}.events[{i}]";
            var e = eventsNode[i] as JsonObject ?? throw Invalid("An event must be an object.", ep);
            if (e.Count != 1)
                throw Invalid("An event has exactly one of introduced, fixed, last_affected, limit.", ep);
            var (name, value) = e.First();
            var kind = name switch
            {
                "introduced" => AdvisoryEventKind.Introduced,
                "fixed" => AdvisoryEventKind.Fixed,
                "last_affected" => AdvisoryEventKind.LastAffected,
                "limit" => AdvisoryEventKind.Limit,
                _ => throw Invalid($"Unknown event '{ErrorText.Escape(name, 40)}'; expected introduced, fixed, last_affected or limit.", ep),
            };
            var version = Text(value, $"{ep}.{name}");
            if (!(kind == AdvisoryEventKind.Introduced && version == "0") && !FirmwareVersion.TryParse(version, out _))
                throw Invalid($"{type} range version '{ErrorText.Escape(version, 80)}' is not a semantic version, so it cannot be compared with firmware versions.", $"{ep}.{name}");
            events.Add(new AdvisoryEvent(kind, version));
        }
        if (!events.Any(e => e.Kind == AdvisoryEventKind.Introduced))
            throw Invalid("A range needs at least one introduced event.", path + ".events");
        return new AdvisoryRange(type, events);
    }

    private static string RequiredString(JsonObject o, string name, string path) =>
        o[name] is { } node ? Text(node, $"{path}.{name}") is { Length: > 0 } text ? text
            : throw Invalid($"{name} must not be empty.", $"{path}.{name}")
            : throw Invalid($"{name} is required.", $"{path}.{name}");

    private static string Text(JsonNode? node, string path)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.String)
            throw Invalid("Must be a string.", path);
        var text = value.GetValue<string>();
        if (text.Length > MaxText)
            throw Invalid($"A string is at most {MaxText} characters.", path);
        return text;
    }

    private static DateTimeOffset? Timestamp(JsonObject o, string name, string path)
    {
        if (o[name] is not { } node)
            return null;
        var text = Text(node, $"{path}.{name}");
        // RFC 3339 always carries a zone ("Z" or an offset); one without would be read in the machine's zone.
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var at) ||
            !(text.EndsWith('Z') || text.EndsWith('z') || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':')))
            throw Invalid($"{name} '{ErrorText.Escape(text, 60)}' is not an RFC 3339 timestamp with a zone.", $"{path}.{name}");
        return at.ToUniversalTime();
    }

    // An ArgumentException (the document is the argument) whose message names the rule and where in the document it broke;
    // never the offending value, which may be long or hostile.
    internal static ArgumentException Invalid(string message, string jsonPath) => new($"{message} (at {jsonPath})", "document");
}
