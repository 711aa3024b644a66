using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Tests.Firmware;

public class FirmwareStateContractTests
{
    private static readonly FirmwareRelease Release = new()
    {
        Version = "2.0.0",
        Uri = new Uri("https://example.test/fw/2.0.0.bin"),
        Sha256 = new string('a', 64),
        SizeBytes = 1234,
    };

    [Fact]
    public void Desired_round_trips_through_json_text()
    {
        var json = FirmwareStateContract.BuildDesired(Release, "r1").ToJsonString();
        Assert.Equal("""{"version":"2.0.0","uri":"https://example.test/fw/2.0.0.bin","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1234,"rolloutId":"r1","signature":null}""", json);
        var parsed = FirmwareStateContract.ParseDesired(JsonNode.Parse(json));
        Assert.Equal(Release, parsed.Release);
        Assert.Equal("r1", parsed.RolloutId);
        Assert.Equal(Release, FirmwareStateContract.ParseDesired(FirmwareStateContract.BuildDesired(Release, null)).Release);
    }

    [Theory]
    [InlineData("""[]""")]
    [InlineData("""{"uri":"https://x/y","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1}""")]
    [InlineData("""{"version":"1","uri":"ftp://x/y","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1}""")]
    [InlineData("""{"version":"1","uri":"https://x/y","sha256":"AAAA","size":1}""")]
    [InlineData("""{"version":"1","uri":"https://x/y","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":"1"}""")]
    [InlineData("""{"version":"1","uri":"https://x/y","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1.5}""")]
    [InlineData("""{"version":"1","uri":"https://x/y","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":0}""")]
    [InlineData("""{"version":7,"uri":"https://x/y","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1}""")]
    public void Malformed_desired_firmware_is_a_format_exception(string json) =>
        Assert.Throws<FormatException>(() => FirmwareStateContract.ParseDesired(JsonNode.Parse(json)));

    [Fact]
    public void Reported_round_trips_and_null_fields_clear_stale_values()
    {
        var report = new ReportedFirmware { Version = "1.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Installing, RolloutId = "r1" };
        var built = FirmwareStateContract.BuildReported(report);
        Assert.Equal("""{"version":"1.0.0","targetVersion":"2.0.0","status":"installing","rolloutId":"r1","error":null}""", built.ToJsonString());
        Assert.Equal(report, FirmwareStateContract.ParseReported(JsonNode.Parse(built.ToJsonString())));

        var merged = JsonMergePatch.Apply(new JsonObject { ["firmware"] = new JsonObject { ["error"] = "old" } }, new JsonObject { ["firmware"] = built });
        Assert.Equal(report, FirmwareStateContract.TryGetReported(merged));
    }

    [Theory]
    [InlineData("""{"version":"1","status":"exploded"}""")]
    [InlineData("""{"status":"failed"}""")]
    [InlineData("""{"version":"1","error":42}""")]
    [InlineData("\"1.0\"")]
    public void Malformed_reported_firmware_is_a_format_exception(string json)
    {
        Assert.Throws<FormatException>(() => FirmwareStateContract.ParseReported(JsonNode.Parse(json)));
        Assert.Null(FirmwareStateContract.TryGetReported(new JsonObject { ["firmware"] = JsonNode.Parse(json) }));
    }
}
