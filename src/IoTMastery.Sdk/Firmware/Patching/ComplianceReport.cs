using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>One advisory against the fleet: who is affected now, what fixes it, and how fast devices were patched.</summary>
public sealed record AdvisoryCompliance
{
    /// <summary>The advisory id.</summary>
    public required string Id { get; init; }

    /// <summary>The advisory summary.</summary>
    public string? Summary { get; init; }

    /// <summary>The advisory severity as given.</summary>
    public string? Severity { get; init; }

    /// <summary>The lowest registered release whose version is a <c>fixed</c> event of the advisory; <see langword="null"/> when none is registered yet.</summary>
    public string? FixedRelease { get; init; }

    /// <summary>The devices whose reported running version the advisory affects, by id.</summary>
    public IReadOnlyList<string> AffectedDevices { get; init; } = [];

    /// <summary>Devices that a rollout took from an affected version to an unaffected release, successfully (each counted once).</summary>
    public int Patched { get; init; }

    /// <summary>Of <see cref="Patched"/>, those whose success came within 24 hours of the advisory's import.</summary>
    public int PatchedWithin24Hours { get; init; }

    /// <summary>Of <see cref="Patched"/>, those whose success came within 7 days of the advisory's import.</summary>
    public int PatchedWithin7Days { get; init; }
}

/// <summary>
/// The fleet's firmware compliance, computed from what devices report (the <c>firmware</c> object of reported state) and the
/// firmware store's releases, advisories and rollouts, the same on every provider. See <see cref="SecurityPatching"/>.
/// </summary>
public sealed record ComplianceReport
{
    /// <summary>When it was computed.</summary>
    public DateTimeOffset GeneratedAt { get; init; }

    /// <summary>Devices in the registry when it was computed.</summary>
    public int DeviceCount { get; init; }

    // Two lookups rather than a list of (version, channel, count) rows: a row type was one more public name for what a
    // dictionary says, and the channel belongs to the release, not to the count.
    /// <summary>
    /// How many devices report each running version, keyed by version. It enumerates highest semantic version first, then the
    /// versions that are not semver, by name.
    /// </summary>
    public IReadOnlyDictionary<string, int> DevicesByVersion { get; init; } = ReadOnlyDictionary<string, int>.Empty;

    /// <summary>
    /// The channel of the registered release with each version in <see cref="DevicesByVersion"/>; a version that no registered
    /// release has is absent.
    /// </summary>
    public IReadOnlyDictionary<string, string> ReleaseChannels { get; init; } = ReadOnlyDictionary<string, string>.Empty;

    /// <summary>Devices that report no firmware version (never did, stopped, or report a malformed <c>firmware</c> object), by id.</summary>
    public IReadOnlyList<string> NotReportingVersion { get; init; } = [];

    /// <summary>The minimum allowed version the report was computed with (<see cref="SecurityPatching.GetComplianceReportAsync"/>); <see langword="null"/> without one.</summary>
    public string? MinimumAllowedVersion { get; init; }

    /// <summary>Devices reporting a semantic version below <see cref="MinimumAllowedVersion"/>, by id; empty without a minimum.</summary>
    public IReadOnlyList<string> BelowMinimumVersion { get; init; } = [];

    /// <summary>Every advisory not withdrawn, by id.</summary>
    public IReadOnlyList<AdvisoryCompliance> Advisories { get; init; } = [];

    /// <summary>
    /// The report as JSON, a stable format (members are only ever added):
    /// <c>{"generatedAt": RFC 3339, "deviceCount": n, "versions": [{"version","channel","devices"}], "notReportingVersion": [id],
    /// "minimumAllowedVersion": string or null, "belowMinimumVersion": [id],
    /// "advisories": [{"id","summary","severity","fixedRelease","affectedDevices": [id],"patched","patchedWithin24h","patchedWithin7d"}]}</c>;
    /// absent values are JSON <c>null</c>.
    /// </summary>
    public string ToJson(bool indented = false) => new JsonObject
    {
        ["generatedAt"] = GeneratedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        ["deviceCount"] = DeviceCount,
        ["versions"] = new JsonArray(DevicesByVersion.Select(v => (JsonNode?)new JsonObject { ["version"] = v.Key, ["channel"] = ReleaseChannels.GetValueOrDefault(v.Key), ["devices"] = v.Value }).ToArray()),
        ["notReportingVersion"] = Strings(NotReportingVersion),
        ["minimumAllowedVersion"] = MinimumAllowedVersion,
        ["belowMinimumVersion"] = Strings(BelowMinimumVersion),
        ["advisories"] = new JsonArray(Advisories.Select(a => (JsonNode?)new JsonObject
        {
            ["id"] = a.Id,
            ["summary"] = a.Summary,
            ["severity"] = a.Severity,
            ["fixedRelease"] = a.FixedRelease,
            ["affectedDevices"] = Strings(a.AffectedDevices),
            ["patched"] = a.Patched,
            ["patchedWithin24h"] = a.PatchedWithin24Hours,
            ["patchedWithin7d"] = a.PatchedWithin7Days,
        }).ToArray()),
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = indented });

    /// <summary>The report as plain-text tables: versions, then advisories, then the devices not reporting a version.</summary>
    public string ToTable()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Firmware compliance at {GeneratedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z, {DeviceCount} devices\n\n");
        Table(text, ["version", "channel", "devices"], DevicesByVersion.Select(v => new[] { v.Key, ReleaseChannels.GetValueOrDefault(v.Key) ?? "-", Num(v.Value) }));
        text.Append('\n');
        Table(text, ["advisory", "severity", "fixed release", "affected", "patched", "<24h", "<7d"],
            Advisories.Select(a => new[] { a.Id, a.Severity ?? "-", a.FixedRelease ?? "-", Num(a.AffectedDevices.Count), Num(a.Patched), Num(a.PatchedWithin24Hours), Num(a.PatchedWithin7Days) }));
        if (MinimumAllowedVersion is not null)
            text.Append(CultureInfo.InvariantCulture, $"\nBelow the minimum allowed version {MinimumAllowedVersion}: {(BelowMinimumVersion.Count == 0 ? "none" : string.Join(", ", BelowMinimumVersion))}\n");
        text.Append(CultureInfo.InvariantCulture, $"\nNot reporting a version: {(NotReportingVersion.Count == 0 ? "none" : string.Join(", ", NotReportingVersion))}\n");
        return text.ToString();
    }

    private static JsonArray Strings(IEnumerable<string> items) => new(items.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());

    private static string Num(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static void Table(StringBuilder text, string[] header, IEnumerable<string[]> rows)
    {
        var all = new List<string[]> { header };
        all.AddRange(rows);
        var widths = header.Select((_, i) => all.Max(r => r[i].Length)).ToArray();
        foreach (var row in all)
            text.Append(string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd()).Append('\n');
    }
}
