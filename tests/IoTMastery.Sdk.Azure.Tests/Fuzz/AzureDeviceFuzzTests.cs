using System.Text;
using System.Text.Json.Nodes;
using Azure.Messaging.EventHubs;
using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Azure.Tests.Fuzz;

/// <summary>
/// Seeded fuzzing of what an Azure device (and the Event Hubs reader) parses from the hub: twin responses and their
/// <c>$rid</c> topics, desired patches, method request topics, C2D property bags, DPS answers and built-in-endpoint events.
/// Topics are fuzzed as well as bodies. Only typed errors, never a crash or a hang.
/// </summary>
public sealed class AzureDeviceFuzzTests
{
    private const int Mutations = 3000;

    private static readonly string[] TwinSeeds =
    [
        "{\"desired\":{\"interval\":5,\"$version\":7,\"$metadata\":{\"$lastUpdated\":\"2024-01-01T00:00:00Z\"}},\"reported\":{\"fw\":\"1.0\",\"$version\":3}}",
        "{\"desired\":{\"$version\":1},\"reported\":{\"$version\":1}}",
    ];

    private static readonly string[] PatchSeeds =
    [
        "{\"interval\":9,\"nested\":{\"a\":null,\"b\":[1,2]},\"$version\":8}",
        "{\"firmware\":{\"version\":\"2.0\",\"uri\":\"https://x/fw.bin\"},\"$version\":9,\"$metadata\":{}}",
    ];

    private static readonly string[] TopicSeeds =
    [
        "$iothub/twin/res/200/?$rid=4a1c6f0e-27e6-4d6b-9b8e-2f8a3c1d0b55&$version=7",
        "$iothub/twin/res/204/?$rid=1&$version=12",
        "$iothub/methods/POST/reboot%20now/?$rid=7f",
        "$iothub/methods/POST/set/?$rid=1&x=%ZZ",
        "devices/dev-1/messages/devicebound/%24.mid=abc&%24.to=%2Fdevices%2Fdev-1&k%C3%A9y=v%C3%A0lue&flag",
        "$dps/registrations/res/202/?$rid=5&retry-after=3",
    ];

    private static readonly string[] DpsSeeds =
    [
        "{\"operationId\":\"4.abc.def\",\"status\":\"assigning\"}",
        "{\"operationId\":\"4.abc\",\"status\":\"assigned\",\"registrationState\":{\"registrationId\":\"dev-1\",\"assignedHub\":\"h.azure-devices.net\",\"deviceId\":\"dev-1\",\"status\":\"assigned\",\"substatus\":\"initialAssignment\"}}",
        "{\"operationId\":\"4.abc\",\"status\":\"failed\",\"registrationState\":{\"status\":\"failed\",\"errorCode\":400209,\"errorMessage\":\"Custom allocation failed\"}}",
        "{\"errorCode\":401002,\"trackingId\":\"x\",\"message\":\"Unauthorized\",\"timestampUtc\":\"2024-01-01T00:00:00Z\"}",
    ];

    [Fact]
    public void Twin_response_body_parses_or_throws_InvalidTwin()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(71, Mutations, TwinSeeds), input =>
        {
            var twin = AzureDeviceConnection.ParseTwin(input);
            // What RefreshDesiredAsync does with it next must not throw either.
            var (desired, _) = TwinMapping.Section(twin["desired"] as JsonObject);
            _ = desired.ToJsonString();
        }, ex => ex is IoTException { ErrorCode: "InvalidTwin" });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Desired_patch_parses_to_a_mergeable_section_or_null()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(72, Mutations, PatchSeeds), input =>
        {
            if (AzureDeviceConnection.ParseDesiredPatch(input) is not { } patch) return;
            var merged = JsonMergePatch.Apply(new JsonObject { ["interval"] = 1 }, patch.Properties);
            _ = merged.ToJsonString();
            Assert.Null(patch.Properties["$version"]);
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Response_method_and_C2D_topics_never_throw()
    {
        var inputs = FuzzInputs.For(73, Mutations, TopicSeeds)
            .Concat(new[] { "$iothub/twin/res", "$iothub/twin/res/", "$iothub/methods/POST", "$iothub/methods/POST/", "$dps/registrations/res", "devices/dev-1/messages/devicebound" }.Select(Encoding.UTF8.GetBytes));
        var failures = FuzzInputs.Run(inputs, input =>
        {
            var topic = Encoding.UTF8.GetString(input);
            foreach (var prefix in new[] { AzureTopics.TwinResponsePrefix, "$dps/registrations/res/" })
                if (AzureTopics.TryParseResponse(topic, prefix, out var status, out var query)) Assert.True(status >= 0 && query is not null);
            if (AzureTopics.TryParseMethodRequest(topic, out var name, out var rid)) Assert.True(name.Length > 0 && rid is not null);
            Assert.NotNull(AzureTopics.CloudToDeviceProperties(topic, "dev-1"));
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Dps_answers_give_a_result_a_poll_or_an_IoTException()
    {
        int[] statuses = [200, 202, 200, 401, 429, 500];
        string?[] retryAfter = [null, "3", "0", "2147483647", "4294968", "-1", "NaN", "1e9"];
        int i = 0;
        var failures = FuzzInputs.Run(FuzzInputs.For(74, Mutations, DpsSeeds), input =>
        {
            i++;
            var query = new Dictionary<string, string?> { ["$rid"] = "1", ["retry-after"] = retryAfter[i % retryAfter.Length] };
            var step = DpsProvisioningClient.Interpret("dev-1", statuses[i % statuses.Length], query, DpsProvisioningClient.ParseBody(input),
                TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(2));
            if (step.Result is null)
            {
                Assert.False(string.IsNullOrEmpty(step.OperationId));
                // The poll loop hands this to Task.Delay, which refuses anything past ~49 days.
                Assert.InRange(step.Wait, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(2));
            }
            else Assert.NotNull(step.Result.RegistrationState); // a result means "assigned": any other final status throws
        }, ex => ex is IoTException);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Event_hub_events_map_to_records_or_a_problem()
    {
        object?[] deviceIds = ["dev-1", "", "\uD800", new string('x', 100_000), 42, new byte[] { 0xFF }, null, "a/b"];
        string[] seeds =
        [
            "[{\"d\":\"spoofed\",\"m\":\"temp\",\"v\":21.5,\"t\":1700000000000},{\"d\":\"x\",\"m\":\"hum\",\"v\":40,\"t\":1}]",
            "{\"d\":\"x\",\"m\":\"temp\",\"v\":1,\"t\":1}",
        ];
        int i = 0;
        var failures = FuzzInputs.Run(FuzzInputs.For(75, Mutations, seeds), input =>
        {
            var id = deviceIds[i++ % deviceIds.Length];
            var system = id is null ? new Dictionary<string, object>() : new Dictionary<string, object> { [EventDataMapping.DeviceIdProperty] = id };
            var records = EventDataMapping.ToRecords(EventHubsModelFactory.EventData(new BinaryData(input), systemProperties: system, sequenceNumber: i, offsetString: "1"), out var problem);
            Assert.True(problem is null || records.Count == 0);
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
    [Fact]
    public void Connection_state_events_are_applied_or_skipped_never_thrown()
    {
        object?[] opTypes = ["deviceConnected", "deviceDisconnected", "", "\uD800", 7, null, new string('x', 100_000)];
        string[] seeds =
        [
            "{\"sequenceNumber\":\"000000000000000001D4132452F67CE200000002000000000000000000000001\"}",
            "{\"other\":[1,{\"a\":null}],\"sequenceNumber\":\"0A\"}",
        ];
        var table = new PresenceTable(TimeProvider.System);
        var reader = new AzureConnectionStateEvents(new AzureEventHubOptions { ConnectionString = "unused" }, table, TimeProvider.System);
        int i = 0;
        var failures = FuzzInputs.Run(FuzzInputs.For(76, Mutations, seeds), input =>
        {
            var op = opTypes[i++ % opTypes.Length];
            var properties = new Dictionary<string, object> { ["deviceId"] = "d" + (i % 5) };
            if (op is not null) properties["opType"] = op;
            var data = EventHubsModelFactory.EventData(new BinaryData(input), properties: properties,
                systemProperties: new Dictionary<string, object> { ["iothub-message-source"] = "deviceConnectionStateEvents", ["iothub-connection-device-id"] = "d" + (i % 5) },
                sequenceNumber: i, offsetString: "1", enqueuedTime: DateTimeOffset.UnixEpoch.AddDays(1));
            var applied = reader.Apply(data);
            // Applied only with a known opType and a body whose sequenceNumber is hex digits.
            Assert.True(!applied || op is "deviceConnected" or "deviceDisconnected");
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
