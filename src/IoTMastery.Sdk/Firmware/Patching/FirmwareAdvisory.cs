namespace IoTMastery.Sdk;

/// <summary>What an OSV range event marks.</summary>
internal enum AdvisoryEventKind
{
    /// <summary>Versions from this one on are affected (<c>introduced</c>; <c>"0"</c> means from the first version).</summary>
    Introduced,

    /// <summary>Versions from this one on are no longer affected (<c>fixed</c>).</summary>
    Fixed,

    /// <summary>This is the last affected version (<c>last_affected</c>); later ones are not.</summary>
    LastAffected,

    /// <summary>Versions from this one on are outside the range (<c>limit</c>).</summary>
    Limit,
}

/// <summary>One event of an OSV range.</summary>
/// <param name="Kind">What it marks.</param>
/// <param name="Version">The version, a semantic version (or <c>"0"</c> for <see cref="AdvisoryEventKind.Introduced"/>).</param>
internal sealed record AdvisoryEvent(AdvisoryEventKind Kind, string Version);

/// <summary>An OSV <c>affected[].ranges[]</c> entry of type <c>SEMVER</c> or <c>ECOSYSTEM</c> (evaluated with SemVer precedence).</summary>
/// <param name="Type">The OSV range type as written.</param>
/// <param name="Events">The events in document order.</param>
internal sealed record AdvisoryRange(string Type, IReadOnlyList<AdvisoryEvent> Events)
{
    /// <summary>Whether <paramref name="version"/> lies in the range, by the OSV evaluation: walk the events in version order;
    /// an introduced at or below it opens, a fixed or limit at or below it closes, a last_affected below it closes.</summary>
    public bool Contains(FirmwareVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        var affected = false;
        foreach (var e in Events.OrderBy(e => e.Version == "0" ? null : FirmwareVersion.Parse(e.Version), Comparer<FirmwareVersion?>.Create(CompareNullFirst)))
        {
            var at = e.Version == "0" ? null : FirmwareVersion.Parse(e.Version);
            var reached = at is null || version >= at;
            switch (e.Kind)
            {
                case AdvisoryEventKind.Introduced when reached: affected = true; break;
                case AdvisoryEventKind.Fixed or AdvisoryEventKind.Limit when reached: affected = false; break;
                case AdvisoryEventKind.LastAffected when at is not null && version > at: affected = false; break;
            }
        }
        return affected;
    }

    private static int CompareNullFirst(FirmwareVersion? a, FirmwareVersion? b) =>
        a is null ? (b is null ? 0 : -1) : b is null ? 1 : a.CompareTo(b);
}

/// <summary>
/// A vulnerability advisory imported from an OSV record (https://ossf.github.io/osv-schema/): which firmware versions it
/// affects, which versions fix it, and how severe it is. Every <c>affected[]</c> entry of the record applies to the
/// fleet's firmware (import one package's records); <c>GIT</c> ranges cannot match a firmware version and are ignored.
/// </summary>
public sealed record FirmwareAdvisory
{
    /// <summary>The OSV id, for example <c>GHSA-xxxx-xxxx-xxxx</c> or <c>OSV-2026-1</c>.</summary>
    public required string Id { get; init; }

    /// <summary>The one-line summary, if any.</summary>
    public string? Summary { get; init; }

    /// <summary>
    /// The severity as given: <c>database_specific.severity</c> (for example <c>HIGH</c>) when present, else the first
    /// <c>severity[].score</c> (a CVSS vector); <see langword="null"/> when the record has neither.
    /// </summary>
    public string? Severity { get; init; }

    /// <summary>The first CVSS vector in <c>severity[]</c>, if any.</summary>
    public string? CvssVector { get; init; }

    /// <summary>When the record was last modified (<c>modified</c>); a re-import replaces the stored record only with one at least as new.</summary>
    public DateTimeOffset Modified { get; init; }

    /// <summary>When the vulnerability was published (<c>published</c>), if given.</summary>
    public DateTimeOffset? Published { get; init; }

    /// <summary>When the record was withdrawn (<c>withdrawn</c>); a withdrawn advisory affects no device.</summary>
    public DateTimeOffset? Withdrawn { get; init; }

    /// <summary>When this fleet first imported the advisory; time-to-patch is measured from here.</summary>
    public DateTimeOffset ImportedAt { get; init; }

    // The SEMVER and ECOSYSTEM ranges of every affected[] entry. Internal: callers ask Affects and FixedVersions, so the
    // OSV event model (four event kinds, evaluation order) stays out of the public surface.
    internal IReadOnlyList<AdvisoryRange> Ranges { get; init; } = [];

    /// <summary>The explicitly listed affected versions (<c>affected[].versions[]</c>), compared as exact strings.</summary>
    public IReadOnlyList<string> Versions { get; init; } = [];

    /// <summary>The versions of every <c>fixed</c> event, lowest first.</summary>
    public IReadOnlyList<string> FixedVersions =>
        Ranges.SelectMany(r => r.Events).Where(e => e.Kind == AdvisoryEventKind.Fixed).Select(e => e.Version)
            .Distinct(StringComparer.Ordinal).OrderBy(v => FirmwareVersion.Parse(v)).ToArray();

    /// <summary>
    /// Whether a device running <paramref name="version"/> is affected: listed in <see cref="Versions"/>, or a semantic
    /// version inside one of the record's SEMVER or ECOSYSTEM ranges. A version that is not semver can match only the explicit list.
    /// </summary>
    public bool Affects(string version)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        if (Withdrawn is not null)
            return false;
        if (Versions.Contains(version, StringComparer.Ordinal))
            return true;
        return FirmwareVersion.TryParse(version, out var parsed) && Ranges.Any(r => r.Contains(parsed));
    }
}
