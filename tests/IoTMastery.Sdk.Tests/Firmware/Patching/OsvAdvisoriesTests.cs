using System.Text;
using IoTMastery.Sdk.Providers;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Firmware.Patching;

/// <summary>OSV records written by hand after https://ossf.github.io/osv-schema/ (files under osv/), read strictly and stored durably.</summary>
public sealed class OsvAdvisoriesTests : IDisposable
{
    private static readonly string Samples = Path.Combine(AppContext.BaseDirectory, "Firmware", "Patching", "osv");
    private readonly TempFirmwareStore _file = new();

    public void Dispose() => _file.Dispose();

    [Fact]
    public async Task A_github_style_record_with_two_ranges_a_listed_version_and_a_git_range()
    {
        var advisory = Assert.Single(await OsvAdvisories.ReadFileAsync(Path.Combine(Samples, "GHSA-fw01-2026-0001.json")));
        Assert.Equal("GHSA-fw01-2026-0001", advisory.Id);
        Assert.Equal("CRITICAL", advisory.Severity);
        Assert.StartsWith("CVSS:3.1/", advisory.CvssVector, StringComparison.Ordinal);
        Assert.Equal(new DateTimeOffset(2026, 11, 29, 8, 30, 0, TimeSpan.Zero), advisory.Published);
        Assert.Equal(2, advisory.Ranges.Count); // the GIT range cannot match a firmware version
        Assert.Equal(["1.4.3", "1.5.0"], advisory.FixedVersions);

        foreach (var v in new[] { "1.4.0", "1.4.2", "1.4.2+build.9", "1.5.0-beta.1", "1.5.0-rc.1", "1.3.9-hotfix" })
            Assert.True(advisory.Affects(v), v);
        foreach (var v in new[] { "1.3.9", "1.4.3", "1.4.10", "1.5.0", "1.4.0-rc.1", "2.0.0", "build_7" })
            Assert.False(advisory.Affects(v), v);
    }

    [Fact]
    public async Task Unbounded_introduced_zero_with_last_affected_and_a_withdrawn_record()
    {
        var list = await OsvAdvisories.ReadFileAsync(Path.Combine(Samples, "OSV-2026-0002.json"));
        var open = list.Single(a => a.Id == "OSV-2026-0002");
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 23, 0, 0, TimeSpan.Zero), open.Modified);
        foreach (var v in new[] { "0.0.1", "1.0.0-alpha", "1.2.5", "1.2.5+meta" })
            Assert.True(open.Affects(v), v);
        foreach (var v in new[] { "1.2.6-rc.1", "1.2.6", "3.0.0" })
            Assert.False(open.Affects(v), v);
        Assert.Empty(open.FixedVersions);
        var withdrawn = list.Single(a => a.Id == "OSV-2026-0003");
        Assert.NotNull(withdrawn.Withdrawn);
        Assert.False(withdrawn.Affects("1.0.0"));
    }

    [Fact]
    public void Several_introduced_fixed_pairs_in_one_range_leave_gaps()
    {
        var advisory = Parse("""{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"1.1.0"},{"introduced":"2.0.0"},{"fixed":"2.0.4"}]}]}]}""");
        Assert.Equal([true, false, false, true, false], new[] { "1.0.5", "1.1.0", "1.9.9", "2.0.3", "2.0.4" }.Select(advisory.Affects));
    }

    [Theory]
    [InlineData("""{"id":"X-1"}""", "modified is required", "$.modified")]
    [InlineData("""{"modified":"2026-01-01T00:00:00Z"}""", "id is required", "$.id")]
    [InlineData("""{"id":"has space","modified":"2026-01-01T00:00:00Z"}""", "1-128 characters", "$.id")]
    [InlineData("""{"id":"X-1","modified":"2026-01-01 00:00:00"}""", "RFC 3339", "$.modified")]
    [InlineData("""{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"ranges":[{"type":"SEMVER","events":[{"fixed":"1.0.0"}]}]}]}""", "at least one introduced", "$.affected[0].ranges[0].events")]
    [InlineData("""{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0"}]}]}]}""", "not a semantic version", "$.affected[0].ranges[0].events[0].introduced")]
    [InlineData("""{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1.0.0"}]}]}]}""", "exactly one of", "$.affected[0].ranges[0].events[0]")]
    [InlineData("""{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"ranges":[{"type":"NPM","events":[{"introduced":"0"}]}]}]}""", "not one of SEMVER", "$.affected[0].ranges[0].type")]
    [InlineData("""{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"ranges":[{"type":"SEMVER","events":[]}]}]}""", "must not be empty", "$.affected[0].ranges[0].events")]
    [InlineData("""{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":{"ranges":[]}}""", "affected must be an array", "$.affected")]
    [InlineData("""{"id":"X-1","id":"X-2","modified":"2026-01-01T00:00:00Z"}""", "well-formed JSON", "$")]
    [InlineData("""[{"id":"X-1","modified":"2026-01-01T00:00:00Z"},{"id":"X-1","modified":"2026-01-01T00:00:00Z"}]""", "more than once", "$")]
    [InlineData("""[{"id":"X-1","modified":"2026-01-01T00:00:00Z"}, 7]""", "must be a JSON object", "$[1]")]
    [InlineData("42", "a record (JSON object) or an array", "$")]
    [InlineData("{\"id\":\"X-1\",", "well-formed JSON", "$")]
    public void Malformed_documents_are_refused_naming_the_rule_and_the_place(string json, string rule, string path)
    {
        // Through the public entry point: a plain ArgumentException whose message names the rule and the JSON path.
        var ex = Assert.Throws<ArgumentException>(() => SecurityPatching.ParseOsv(System.Text.Encoding.UTF8.GetBytes(json)));
        Assert.Contains(rule, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"(at {path})", ex.Message, StringComparison.Ordinal);
        Assert.Equal("document", ex.ParamName);
    }

    [Fact]
    public async Task A_stream_over_the_size_limit_stops_at_the_limit()
    {
        using var huge = new MemoryStream(new byte[OsvAdvisories.MaxDocumentBytes + 1]);
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => OsvAdvisories.ReadAsync(huge));
        Assert.Contains("at most", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Advisories_are_durable_an_older_record_never_replaces_a_newer_one_and_the_first_import_time_stays()
    {
        var t1 = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var advisory = Assert.Single(await OsvAdvisories.ReadFileAsync(Path.Combine(Samples, "GHSA-fw01-2026-0001.json"))) with { ImportedAt = t1 };
        using (var store = new SqliteFirmwareStore(_file.Path))
            await store.UpsertAdvisoryAsync(advisory);
        using (var store = new SqliteFirmwareStore(_file.Path))
        {
            var read = await store.GetAdvisoryAsync(advisory.Id);
            Assert.NotNull(read);
            Assert.Equal((advisory.Severity, advisory.Modified, t1), (read.Severity, read.Modified, read.ImportedAt));
            Assert.Equal(advisory.Versions, read.Versions);
            Assert.Equal(advisory.Ranges.SelectMany(r => r.Events), read.Ranges.SelectMany(r => r.Events));
            Assert.True(read.Affects("1.4.1"));

            var older = await store.UpsertAdvisoryAsync(advisory with { Summary = "older", Modified = advisory.Modified.AddDays(-1), ImportedAt = t1.AddDays(3) });
            Assert.Equal(advisory.Summary, older.Summary);
            var newer = await store.UpsertAdvisoryAsync(advisory with { Summary = "newer", Modified = advisory.Modified.AddDays(1), ImportedAt = t1.AddDays(3) });
            Assert.Equal(("newer", t1), (newer.Summary, newer.ImportedAt));
            Assert.Equal("newer", Assert.Single(await store.ListAdvisoriesAsync()).Summary);
        }
    }

    private static FirmwareAdvisory Parse(string json) => Assert.Single(OsvAdvisories.Parse(Encoding.UTF8.GetBytes(json)));
}
