using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>The firmware store's JSON form of a <see cref="FirmwareAdvisory"/> (not OSV: only what was read from it), written by hand so it stays stable and trimming-safe.</summary>
internal static class AdvisoryJson
{
    public static string Write(FirmwareAdvisory a) => new JsonObject
    {
        ["id"] = a.Id,
        ["summary"] = a.Summary,
        ["severity"] = a.Severity,
        ["cvss"] = a.CvssVector,
        ["modified"] = a.Modified.UtcTicks,
        ["published"] = a.Published?.UtcTicks,
        ["withdrawn"] = a.Withdrawn?.UtcTicks,
        ["versions"] = new JsonArray(a.Versions.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
        ["ranges"] = new JsonArray(a.Ranges.Select(r => (JsonNode?)new JsonObject
        {
            ["type"] = r.Type,
            ["events"] = new JsonArray(r.Events.Select(e => (JsonNode?)new JsonObject { ["kind"] = e.Kind.ToString(), ["version"] = e.Version }).ToArray()),
        }).ToArray()),
    }.ToJsonString();

    public static FirmwareAdvisory Read(string json)
    {
        var o = JsonNode.Parse(json)!.AsObject();
        return new FirmwareAdvisory
        {
            Id = o["id"]!.GetValue<string>(),
            Summary = o["summary"]?.GetValue<string>(),
            Severity = o["severity"]?.GetValue<string>(),
            CvssVector = o["cvss"]?.GetValue<string>(),
            Modified = Ticks(o["modified"])!.Value,
            Published = Ticks(o["published"]),
            Withdrawn = Ticks(o["withdrawn"]),
            Versions = o["versions"]!.AsArray().Select(v => v!.GetValue<string>()).ToArray(),
            Ranges = o["ranges"]!.AsArray().Select(r => new AdvisoryRange(r!["type"]!.GetValue<string>(),
                r["events"]!.AsArray().Select(e => new AdvisoryEvent(Enum.Parse<AdvisoryEventKind>(e!["kind"]!.GetValue<string>()), e["version"]!.GetValue<string>())).ToArray())).ToArray(),
        };
    }

    private static DateTimeOffset? Ticks(JsonNode? node) => node is null ? null : new DateTimeOffset(node.GetValue<long>(), TimeSpan.Zero);
}
