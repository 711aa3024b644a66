using System.Net;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Aws.Tests.Fuzz;

/// <summary>Seeded fuzzing of the AWS error, shadow and command-reply parsers: only typed errors, never a crash or a hang.</summary>
public sealed class AwsParserFuzzTests
{
    private static readonly string[] ErrorSeeds =
    [
        "{\"message\":\"Thing dev-1 not found\",\"code\":\"ResourceNotFoundException\"}",
        "{\"__type\":\"com.amazonaws.iot#ThrottlingException:http://internal\",\"Message\":\"Rate exceeded\"}",
        "{\"Code\":\"VersionConflictException\",\"message\":null}",
    ];

    private static readonly string[] ShadowSeeds =
    [
        "{\"state\":{\"desired\":{\"firmware\":{\"version\":\"1.0\"}},\"reported\":{\"temp\":21}},\"metadata\":{},\"version\":7,\"timestamp\":1700000000}",
        "{\"state\":{\"temp\":22},\"version\":8,\"timestamp\":1700000001,\"clientToken\":\"t\"}",
        "{\"code\":404,\"message\":\"No shadow exists with name: 'dev-1'\",\"clientToken\":\"t\"}",
    ];

    private static readonly string[] ReplySeeds = ["{\"status\":200,\"payload\":{\"ok\":true}}", "{\"status\":503}"];

    [Fact]
    public void AwsError_Parse_never_throws_and_maps_to_an_IoTException()
    {
        var statuses = new[] { HttpStatusCode.BadRequest, HttpStatusCode.NotFound, HttpStatusCode.TooManyRequests, HttpStatusCode.InternalServerError };
        int i = 0;
        var failures = FuzzInputs.Run(FuzzInputs.For(21, 3000, ErrorSeeds), input =>
        {
            var status = statuses[i++ % statuses.Length];
            var error = AwsError.Parse(status, name => name == "Retry-After" ? "NaN" : null, input);
            Assert.IsAssignableFrom<IoTException>(error.ToException("GetThing", i % 2 == 0 ? "dev-1" : null));
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Shadow_payload_parser_never_throws()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(22, 3000, ShadowSeeds), input =>
        {
            var result = AwsDeviceConnection.Parse(input);
            if (result is not null) Assert.NotNull(result.Root);
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Command_reply_parser_throws_only_MalformedReply()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(23, 3000, ReplySeeds), input =>
        {
            var response = AwsCommandService.ParseReply("dev-1", "reboot", input);
            Assert.InRange(response.Status, 100, 599);
        }, ex => ex is IoTException { ErrorCode: "MalformedReply" });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
