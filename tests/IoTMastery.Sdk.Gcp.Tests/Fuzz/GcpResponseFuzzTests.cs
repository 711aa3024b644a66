using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Gcp.Tests.Fuzz;

/// <summary>
/// Seeded fuzzing of the Pub/Sub pull answer, the Cloud IoT device resource, config/state documents (fleet and device side)
/// and the command payload handed to device handlers: only typed errors, never a crash or a hang.
/// </summary>
public sealed class GcpResponseFuzzTests
{
    private const int Mutations = 3000;

    private static readonly string[] PullSeeds =
    [
        "{\"receivedMessages\":[{\"ackId\":\"ack-1\",\"message\":{\"data\":\"W3siZCI6ImRldi0xIiwibSI6InQiLCJ2IjoxLCJ0IjoxfV0=\",\"attributes\":{\"iotm-content-id\":\"c1\",\"deviceId\":\"dev-1\"},\"messageId\":\"42\",\"publishTime\":\"2024-01-01T00:00:00.123Z\",\"orderingKey\":\"dev-1\"},\"deliveryAttempt\":2}]}",
        "{\"receivedMessages\":[{\"ackId\":\"a\",\"message\":{\"messageId\":\"1\",\"attributes\":{\"k\":\"v\"}}},{\"ackId\":\"b\",\"message\":{\"data\":\"\"}}]}",
        "{}",
    ];

    private static readonly string[] DeviceSeeds =
    [
        "{\"id\":\"dev-1\",\"numId\":\"123\",\"blocked\":true,\"metadata\":{\"site\":\"a\",\"floor\":\"2\"},\"credentials\":[{\"publicKey\":{\"format\":\"ES256_PEM\",\"key\":\"-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\\n-----END PUBLIC KEY-----\\n\"},\"expirationTime\":\"2030-01-01T00:00:00Z\"}]}",
        "{\"id\":\"dev-2\",\"credentials\":[]}",
    ];

    private static readonly string[] DocumentSeeds =
    [
        "{\"interval\":5,\"$version\":3,\"firmware\":{\"version\":\"1.0\",\"status\":\"installed\"}}",
        "{\"id\":\"r-1\",\"name\":\"reboot\",\"payload\":{\"delay\":5,\"note\":\"x\"}}",
    ];

    [Fact]
    public void Pull_response_parses_or_throws_INVALID_RESPONSE()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(81, Mutations, PullSeeds), input =>
        {
            JsonNode? response;
            // Non-strict on purpose: the parser must hold even for a document the REST client's strict gate would have refused.
            try { response = JsonNode.Parse(input); }
            catch (JsonException) { return; }
            foreach (var m in PubSubWire.ParsePullResponse(response))
            {
                Assert.False(string.IsNullOrEmpty(m.AckId));
                Assert.All(m.Attributes, a => Assert.NotNull(a.Value));
            }
        }, ex => ex is IoTException { ErrorCode: "INVALID_RESPONSE" });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Device_resource_maps_or_throws_INVALID_RESPONSE()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(82, Mutations, DeviceSeeds), input =>
        {
            JsonObject? resource;
            try { resource = JsonNode.Parse(input) as JsonObject; }
            catch (JsonException) { return; }
            if (resource is null) return;
            var device = GcpDeviceRegistry.ToDevice(resource);
            Assert.False(string.IsNullOrEmpty(device.Id));
        }, ex => ex is IoTException { ErrorCode: "INVALID_RESPONSE" });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Config_and_state_documents_parse_to_readable_objects_and_commands_to_readable_payloads()
    {
        var failures = FuzzInputs.Run(FuzzInputs.For(83, Mutations, DocumentSeeds), input =>
        {
            // What the fleet reads from configs/states and the device reads from its config topic.
            _ = GcpStateService.ParseObject(input).ToJsonString();
            // What a device command handler receives must be readable in full.
            if (GcpCommandWire.TryParseRequest(input, out _, out _, out var payload)) _ = payload?.ToJsonString();
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
