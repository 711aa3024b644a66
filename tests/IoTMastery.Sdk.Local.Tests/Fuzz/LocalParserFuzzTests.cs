using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Local.Tests.Fuzz;

/// <summary>Seeded fuzzing of what the Local provider parses from devices: only typed errors, never a crash or a hang.</summary>
public sealed class LocalParserFuzzTests
{
    private static readonly string[] ReplySeeds =
    [
        "{\"status\":200,\"payload\":{\"ok\":true,\"n\":[1,2,3]}}",
        "{\"status\":404}",
        "{\"status\":500,\"payload\":\"boom\"}",
    ];

    [Fact]
    public void Command_reply_parser_throws_only_MalformedReply()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(11, 3000, ReplySeeds), input =>
        {
            var response = LocalCommandService.ParseReply("dev-1", "reboot", input);
            Assert.InRange(response.Status, 100, 599);
        }, ex => ex is IoTException { ErrorCode: "MalformedReply" });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static readonly string[] DesiredSeeds =
    [
        "{\"version\":7,\"desired\":{\"interval\":5,\"firmware\":{\"version\":\"1.0\"}}}",
        "{\"version\":1,\"desired\":{}}",
    ];

    [Fact]
    public void Desired_document_parser_on_the_device_never_throws_and_returns_only_readable_state()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(12, 3000, DesiredSeeds), input =>
        {
            if (LocalDeviceConnection.ParseDesired(input) is { } change) _ = change.Desired.ToJsonString();
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
