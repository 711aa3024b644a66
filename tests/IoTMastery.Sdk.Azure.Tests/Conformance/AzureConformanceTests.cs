using IoTMastery.Sdk.TestSupport;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Azure.Tests.Double;

namespace IoTMastery.Sdk.Azure.Tests.Conformance;

/// <summary>
/// Request conformance: the official Node.js SDKs and this provider perform the same operations against a capturing
/// double; the normalized HTTP requests and MQTT CONNECT fields, subscriptions and topics must be identical.
/// </summary>
[Collection(DoubleCollection.Name)]
public sealed class AzureConformanceTests
{
    /// <summary>Device ids with the reserved characters IoT Hub allows, run through connect, twin, telemetry and a method (step 12b).</summary>
    public static readonly string[] ReservedIds = ["dev.with:colon", "dev_with%percent", "dev$(x)!*'@=,?", "a-.%_*?!(),:=@$'z"];

    [Fact]
    public async Task Provider_sends_what_the_official_node_sdks_send()
    {
        List<string> node;
        await using (var hub = await IotHubDouble.StartAsync())
        {
            var (code, output) = await NodeOracle.RunScenarioAsync(hub);
            Assert.True(code == 0, "The Node.js scenario failed:\n" + output);
            node = CaptureNormalizer.Normalize(hub.Captured);
        }
        List<string> ours;
        await using (var hub = await IotHubDouble.StartAsync())
        {
            await RunSameScenarioAsync(hub);
            ours = CaptureNormalizer.Normalize(hub.Captured);
        }
        var report = "Node:\n  " + string.Join("\n  ", node) + "\nOurs:\n  " + string.Join("\n  ", ours);
        // Subscriptions may be sent in one packet or several and at another moment; compare each client's set, everything else in order.
        Assert.True(node.Where(l => l.StartsWith("SUBSCRIBE", StringComparison.Ordinal)).Order().SequenceEqual(ours.Where(l => l.StartsWith("SUBSCRIBE", StringComparison.Ordinal)).Order()), "Subscriptions differ.\n" + report);
        var nodeRest = node.Where(l => !l.StartsWith("SUBSCRIBE", StringComparison.Ordinal)).ToList();
        var ourRest = ours.Where(l => !l.StartsWith("SUBSCRIBE", StringComparison.Ordinal)).ToList();
        for (var i = 0; i < Math.Max(nodeRest.Count, ourRest.Count); i++)
            Assert.True(i < nodeRest.Count && i < ourRest.Count && nodeRest[i] == ourRest[i],
                $"First difference at {i}:\n node: {(i < nodeRest.Count ? nodeRest[i] : "<none>")}\n ours: {(i < ourRest.Count ? ourRest[i] : "<none>")}\n" + report);
    }

    /// <summary>The provider's calls for each step of tests/conformance/azure-node/scenario.js, in the same order.</summary>
    private static async Task RunSameScenarioAsync(IotHubDouble hub)
    {
        await using var provider = IotHubDoubleProviders.Create(hub);
        var api = provider.Hub;
        // 1-2. create, duplicate create
        var created = await api.CreateDeviceIdentityAsync(new JsonObject
        {
            ["deviceId"] = "dev1",
            ["authentication"] = new JsonObject { ["type"] = "sas", ["symmetricKey"] = new JsonObject { ["primaryKey"] = "", ["secondaryKey"] = "" } },
        });
        await IoTAssert.ThrowsAsync(IoTErrorKind.AlreadyExists, () => api.CreateDeviceIdentityAsync(new JsonObject
        {
            ["deviceId"] = "dev1",
            ["authentication"] = new JsonObject { ["type"] = "sas", ["symmetricKey"] = new JsonObject { ["primaryKey"] = "", ["secondaryKey"] = "" } },
        }));
        // 3-4. twin update with ETag, then with the stale ETag
        var twin = await api.GetTwinAsync("dev1");
        var etag = twin["etag"]!.GetValue<string>();
        await api.UpdateTwinAsync("dev1", new JsonObject { ["tags"] = new JsonObject { ["site"] = "a" }, ["properties"] = new JsonObject { ["desired"] = new JsonObject { ["fw"] = "2.0" } } }, etag);
        await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () => api.UpdateTwinAsync("dev1", new JsonObject { ["tags"] = new JsonObject { ["site"] = "b" } }, etag));
        // 5-6. query page of 50, missing device
        Assert.Single((await api.QueryPageAsync("SELECT * FROM devices", 50)).Items);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => api.GetDeviceIdentityAsync("missing"));
        // 7-10. device: connect, twin, reported, desired push, telemetry with properties
        var key = created["authentication"]!["symmetricKey"]!["primaryKey"]!.GetValue<string>();
        var device = (AzureDeviceConnection)provider.CreateDeviceConnection(new DeviceConnectionOptions
        {
            DeviceId = "dev1",
            Credential = new IssuedCredential(new CredentialInfo { Id = "sas-primary", Kind = CredentialKind.SymmetricKey }, symmetricKey: key),
        });
        await using (device)
        {
            var initial = new TaskCompletionSource<(JsonObject Desired, long Version)>(TaskCreationOptions.RunContinuationsAsynchronously);
            var desired = new TaskCompletionSource<(JsonObject Desired, long Version)>(TaskCreationOptions.RunContinuationsAsynchronously);
            device.SetDesiredStateHandler((document, version, _) =>
            {
                if (document["fw"]?.GetValue<string>() == "2.0") initial.TrySetResult((document, version));
                if (document["fw"]?.GetValue<string>() == "3.0") desired.TrySetResult((document, version));
                return ValueTask.CompletedTask;
            });
            device.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["ok"] = true, ["got"] = command.Payload?.DeepClone() })));
            await device.ConnectAsync();
            // The connection reads the twin itself after connecting (the Node step is an explicit getTwin).
            Assert.Equal(2, (await initial.Task.WaitAsync(TimeSpan.FromSeconds(15))).Version);
            await device.ReportStateAsync(new JsonObject { ["firmware"] = new JsonObject { ["version"] = "1.0.0" } });
            var twin2 = await api.GetTwinAsync("dev1");
            await api.UpdateTwinAsync("dev1", new JsonObject { ["properties"] = new JsonObject { ["desired"] = new JsonObject { ["fw"] = "3.0" } } }, twin2["etag"]!.GetValue<string>());
            await desired.Task.WaitAsync(TimeSpan.FromSeconds(15));
            await device.SendMessageAsync(Encoding.UTF8.GetBytes("""[{"d":"dev1","m":"temp","v":21.5,"t":1700000000000}]"""),
                [new("$.mid", "m1"), new("$.ct", "application/json"), new("$.ce", "utf-8"), new("alert", "hi there")]);
            // 11. direct method
            var result = await api.InvokeMethodAsync("dev1", "reboot", new JsonObject { ["a"] = 1 }, TimeSpan.FromSeconds(30), TimeSpan.Zero);
            Assert.Equal(200, result.Status);
        }
        // 12. offline method
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceOffline, () => api.InvokeMethodAsync("dev1", "reboot", new JsonObject(), TimeSpan.FromSeconds(5), TimeSpan.Zero));
        // 12b. ids with reserved characters: the same steps as scenario.js for each
        foreach (var id in ReservedIds)
        {
            var identity = await api.CreateDeviceIdentityAsync(new JsonObject
            {
                ["deviceId"] = id,
                ["authentication"] = new JsonObject { ["type"] = "sas", ["symmetricKey"] = new JsonObject { ["primaryKey"] = "", ["secondaryKey"] = "" } },
            });
            var reservedTwin = await api.GetTwinAsync(id);
            await api.UpdateTwinAsync(id, new JsonObject { ["properties"] = new JsonObject { ["desired"] = new JsonObject { ["fw"] = "2.0" } } }, reservedTwin["etag"]!.GetValue<string>());
            var client = (AzureDeviceConnection)provider.CreateDeviceConnection(new DeviceConnectionOptions
            {
                DeviceId = id,
                Credential = new IssuedCredential(new CredentialInfo { Id = "sas-primary", Kind = CredentialKind.SymmetricKey },
                    symmetricKey: identity["authentication"]!["symmetricKey"]!["primaryKey"]!.GetValue<string>()),
            });
            await using (client)
            {
                var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                client.SetDesiredStateHandler((document, version, _) =>
                {
                    if (document["fw"]?.GetValue<string>() == "2.0") seen.TrySetResult();
                    return ValueTask.CompletedTask;
                });
                client.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["ok"] = true, ["got"] = command.Payload?.DeepClone() })));
                await client.ConnectAsync();
                await seen.Task.WaitAsync(TimeSpan.FromSeconds(15));
                await client.ReportStateAsync(new JsonObject { ["firmware"] = new JsonObject { ["version"] = "1.0.0" } });
                await client.SendMessageAsync(Encoding.UTF8.GetBytes(new JsonArray(new JsonObject { ["d"] = id, ["m"] = "temp", ["v"] = 1, ["t"] = 1700000000000 }).ToJsonString()),
                    [new("$.mid", "m-" + id)]);
                Assert.Equal(200, (await api.InvokeMethodAsync(id, "reboot", new JsonObject { ["a"] = 2 }, TimeSpan.FromSeconds(30), TimeSpan.Zero)).Status);
            }
            await api.DeleteDeviceIdentityAsync(id);
        }
        // 13. DPS with a group-derived key
        var registration = await AzureIoTProvider.RegisterWithDpsAsync(new DpsRegistrationOptions
        {
            Host = "localhost", Port = hub.MqttPort, IdScope = IotHubDouble.IdScope, RegistrationId = "reg-001",
            EnrollmentGroupKey = IotHubDouble.GroupKey, TrustedRoots = [hub.CaCertificate], PollInterval = TimeSpan.FromMilliseconds(100),
        });
        Assert.Equal(IotHubDouble.HubHost, registration.AssignedHub);
        // 13b. DPS with an individual enrollment's own key
        var individual = await AzureIoTProvider.RegisterWithDpsAsync(new DpsRegistrationOptions
        {
            Host = "localhost", Port = hub.MqttPort, IdScope = IotHubDouble.IdScope, RegistrationId = IotHubDouble.IndividualRegistrationId,
            DeviceKey = IotHubDouble.IndividualKey, TrustedRoots = [hub.CaCertificate], PollInterval = TimeSpan.FromMilliseconds(100),
        });
        Assert.Equal(IotHubDouble.IndividualRegistrationId, individual.DeviceId);
        // 14. delete
        await api.DeleteDeviceIdentityAsync("dev1");
        // 15. self-signed X.509 device
        var (certificatePem, keyPem, thumbprint) = NodeOracle.CameraCertificate.Value;
        await api.CreateDeviceIdentityAsync(new JsonObject
        {
            ["deviceId"] = "cam1",
            ["authentication"] = new JsonObject { ["x509Thumbprint"] = new JsonObject { ["primaryThumbprint"] = thumbprint }, ["type"] = "selfSigned" },
        });
        await using (var cam = (AzureDeviceConnection)provider.CreateDeviceConnection(new DeviceConnectionOptions
        {
            DeviceId = "cam1",
            Credential = new IssuedCredential(new CredentialInfo { Id = thumbprint, Kind = CredentialKind.X509Certificate }, certificatePem, keyPem),
        }))
        {
            await cam.ConnectAsync();
            await cam.SendMessageAsync(Encoding.UTF8.GetBytes("""{"x":1}"""), [new("$.mid", "m2")]);
        }
        // 15b. CA-authenticated device: identity of type certificateAuthority, certificate from the verified CA
        await api.CreateDeviceIdentityAsync(new JsonObject { ["deviceId"] = "cam2", ["authentication"] = new JsonObject { ["type"] = "certificateAuthority" } });
        await using (var connection = (AzureDeviceConnection)provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "cam2", Credential = hub.VerifiedCa.IssueDeviceCertificate("cam2") }))
        {
            await connection.ConnectAsync();
            await connection.SendMessageAsync(Encoding.UTF8.GetBytes("""{"x":2}"""), [new("$.mid", "m3")]);
        }
        // 16-20. bulk create, statistics, jobs, bulk delete
        var sas = () => new JsonObject { ["type"] = "sas", ["symmetricKey"] = new JsonObject { ["primaryKey"] = "", ["secondaryKey"] = "" } };
        Assert.True((await api.BulkAsync([
            new JsonObject { ["id"] = "bulk1", ["importMode"] = "create", ["authentication"] = sas() },
            new JsonObject { ["id"] = "bulk2", ["importMode"] = "create", ["authentication"] = sas() }])).IsSuccessful);
        Assert.Equal(6, (await api.GetDeviceStatisticsAsync()).Total);
        var start = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        await api.ScheduleTwinUpdateAsync("job-1", "deviceId IN ['bulk1']", new JsonObject { ["tags"] = new JsonObject { ["x"] = "1" } }, start, TimeSpan.FromSeconds(600));
        await api.ScheduleMethodAsync("job-2", "deviceId IN ['bulk1']", "reboot", new JsonObject(), TimeSpan.FromSeconds(30), TimeSpan.Zero, start, TimeSpan.FromSeconds(600));
        // Node's removeDevices repeats the normalized authentication on delete entries; DeleteDevicesAsync (like the C# SDK)
        // sends only id and importMode, so the same entries go through BulkAsync here.
        Assert.True((await api.BulkAsync([
            new JsonObject { ["id"] = "bulk1", ["importMode"] = "delete", ["authentication"] = sas() },
            new JsonObject { ["id"] = "bulk2", ["importMode"] = "delete", ["authentication"] = sas() }])).IsSuccessful);
    }
}
