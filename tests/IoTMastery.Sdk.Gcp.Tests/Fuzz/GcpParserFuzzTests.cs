using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Gcp.Tests.Fuzz;

/// <summary>Seeded fuzzing of the Google error, command-wire and config/state payload parsers: only typed errors, never a crash or a hang.</summary>
public sealed class GcpParserFuzzTests
{
    private static readonly string[] ErrorSeeds =
    [
        "{\"error\":{\"code\":404,\"message\":\"Device dev-1 not found\",\"status\":\"NOT_FOUND\"}}",
        "{\"error\":{\"code\":429,\"message\":\"Quota\",\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":\"x\"}]}}",
    ];

    private static readonly string[] CommandSeeds =
    [
        "{\"id\":\"r-1\",\"name\":\"reboot\",\"payload\":{\"delay\":5}}",
        "{\"id\":\"r-1\",\"status\":200,\"payload\":{\"ok\":true}}",
    ];

    private static readonly string[] ConfigSeeds =
    [
        "{\"version\":\"3\",\"cloudUpdateTime\":\"2024-01-01T00:00:00Z\",\"binaryData\":\"eyJmaXJtd2FyZSI6eyJ2ZXJzaW9uIjoiMS4wIn19\"}",
        "{\"updateTime\":\"2024-01-01T00:00:00Z\",\"binaryData\":\"\"}",
    ];

    [Fact]
    public void GoogleApiErrors_Parse_never_throws_and_maps_to_an_IoTException()
    {
        var codes = new[] { HttpStatusCode.NotFound, HttpStatusCode.Conflict, HttpStatusCode.TooManyRequests, HttpStatusCode.BadGateway };
        int i = 0;
        var failures = FuzzInputs.Run(FuzzInputs.For(41, 3000, ErrorSeeds), input =>
        {
            var (status, message) = GoogleApiErrors.Parse(codes[i++ % codes.Length], Encoding.UTF8.GetString(input));
            Assert.IsAssignableFrom<IoTException>(GoogleApiErrors.ToException("devices.get", status, message, null));
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Command_wire_parsers_never_throw()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(42, 3000, CommandSeeds), input =>
        {
            if (GcpCommandWire.TryParseRequest(input, out var id, out var name, out _)) Assert.True(id.Length > 0 && name.Length > 0);
            if (GcpCommandWire.TryParseReply(input, out var replyId, out _)) Assert.True(replyId.Length > 0);
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Config_binaryData_decoding_throws_only_FormatException()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(43, 3000, ConfigSeeds), input =>
        {
            JsonObject? config;
            try { config = JsonNode.Parse(input) as JsonObject; }
            catch (JsonException) { return; }
            if (config is not null) CloudIotClient.BinaryData(config);
        }, ex => ex is FormatException);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
