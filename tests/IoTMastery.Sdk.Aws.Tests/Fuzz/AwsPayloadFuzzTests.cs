using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Aws.Tests.Fuzz;

/// <summary>
/// Seeded fuzzing of the AWS parsers the first round left out: presence (lifecycle) events with their topics, and
/// shadow / control-plane REST answers. Only typed errors, never a crash or a hang.
/// </summary>
public sealed class AwsPayloadFuzzTests
{
    private const int Mutations = 3000;

    private static readonly string[] PresenceSeeds =
    [
        "{\"clientId\":\"dev-1\",\"timestamp\":1700000000000,\"eventType\":\"connected\",\"sessionIdentifier\":\"s-1\",\"principalIdentifier\":\"p\",\"ipAddress\":\"10.0.0.1\",\"versionNumber\":3}",
        "{\"clientId\":\"dev-1\",\"timestamp\":1700000000000,\"eventType\":\"disconnected\",\"clientInitiatedDisconnect\":true,\"sessionIdentifier\":\"s-1\",\"principalIdentifier\":\"p\",\"disconnectReason\":\"CLIENT_INITIATED_DISCONNECT\",\"versionNumber\":4}",
    ];

    private static readonly string[] ResponseSeeds =
    [
        "{\"state\":{\"desired\":{\"a\":1},\"reported\":{\"b\":\"x\"}},\"metadata\":{},\"version\":3,\"timestamp\":1700000000}",
        "{\"thingName\":\"dev-1\",\"attributes\":{\"site\":\"a\"},\"version\":2,\"nextToken\":null}",
    ];

    [Fact]
    public void Presence_events_and_their_topics_parse_or_return_false()
    {
        string[] topics = ["$aws/events/presence/connected/dev-1", "$aws/events/presence/disconnected/dev-1", "$aws/events/presence/connected/", "$aws/events/presence", "$aws/events/presence/connected/dev-1/x", "$aws/events/presence/\uD800/dev-1"];
        int i = 0;
        var failures = FuzzInputs.Run(FuzzInputs.For(92, Mutations, PresenceSeeds), input =>
        {
            var topic = i % 7 == 6 ? Encoding.UTF8.GetString(FuzzInputs.Mutate(new Random(i), Encoding.UTF8.GetBytes(topics[0]))) : topics[i % topics.Length];
            i++;
            if (LifecycleEventJson.TryParse(topic, input, out var e)) Assert.NotNull(e);
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Shadow_and_control_plane_answers_parse_or_throw_a_typed_IoTException()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(94, Mutations, ResponseSeeds), input =>
        {
            foreach (var parse in new Func<JsonObject>[] { () => AwsShadowService.Parse(input), () => IotControlPlane.ParseResponse("DescribeThing", input) })
            {
                try { _ = parse().ToJsonString(); }
                catch (IoTException ex) when (ex.ErrorCode is "MalformedResponse" or "InvalidResponse") { }
            }
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
