using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.Providers;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// The quickstart scenario for the GCP-style provider: register a device with a generated ES256 key, connect it
/// over the bridge protocol (Mosquitto), send telemetry that reaches the Pub/Sub emulator and is read back by
/// pull/ack, send a command with a subfolder, and roll out firmware through versioned configs and reported
/// states with the shared firmware engine. The vendor's bridge (events → Pub/Sub, state → registry,
/// config/commands → device) is played by a relay in this runner, because no vendor bridge runs offline.
/// </summary>
public static class GcpScenario
{
    public static async Task<IReadOnlyList<string>> RunAsync(PubSubEmulator emulator, TextWriter? log = null, CancellationToken cancellationToken = default)
    {
        var steps = new List<string>();
        void Step(string s) { steps.Add(s); log?.WriteLine(s); }
        var registryPath = new CloudIotRegistryPath(emulator.ProjectId, "us-central1", "quickstart");
        var pubsub = emulator.CreateClient();
        var topic = "events-" + Guid.NewGuid().ToString("N")[..8];
        await pubsub.CreateTopicAsync(topic, cancellationToken);
        await pubsub.CreateSubscriptionAsync(topic + "-sub", topic, new PubSubSubscriptionSettings { AckDeadlineSeconds = 30 }, cancellationToken);

        await using var broker = await BridgeMosquitto.StartAsync();
        await using var registryDouble = new CloudIotRegistryDouble();
        await using var relay = new MqttDeviceClient(new MqttDeviceClientOptions { Host = "localhost", Port = broker.Port, TrustedRoots = broker.TrustedRoots, ClientId = "bridge-relay", Version = MqttVersion.Mqtt311 });
        await relay.ConnectAsync(cancellationToken);
        await relay.SubscribeAsync("/devices/+/events/#", async (m, ct) =>
        {
            var parts = m.Topic.Split('/', 5);
            var attributes = new Dictionary<string, string> { ["deviceId"] = parts[2], ["deviceRegistryId"] = registryPath.RegistryId, ["projectId"] = registryPath.ProjectId };
            if (parts.Length == 5) attributes["subFolder"] = parts[4];
            await pubsub.PublishAsync(topic, [new PubSubMessage { Data = m.Payload, Attributes = attributes }], ct);
        }, cancellationToken: cancellationToken);
        await relay.SubscribeAsync("/devices/+/state", (m, _) => { registryDouble.ReportState(m.Topic.Split('/')[2], m.Payload.ToArray()); return default; }, cancellationToken: cancellationToken);
        registryDouble.ConfigSink = (id, _, data) => relay.PublishAsync($"/devices/{id}/config", data, retain: true).GetAwaiter().GetResult();
        registryDouble.CommandSink = (id, sub, data) => { relay.PublishAsync($"/devices/{id}/commands" + (sub is null ? "" : "/" + sub), data).GetAwaiter().GetResult(); return true; };

        using var http = new HttpClient();
        var registry = new CloudIotClient(http, registryPath, registryDouble.Server.BaseUrl, NoAuthenticator.Instance);
        using var firmwareStore = new TempFirmwareStore();
        using var store = new SqliteFirmwareStore(firmwareStore.Path);
        var firmware = FirmwareServices.Create(store, new GcpStateService(registry), DeviceIdRules.Gcp, GcpIoTProvider.ProviderName);

        // 1. Register with a key we generate; the private half stays with the device.
        var (publicPem, privatePem, format) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var created = await registry.CreateDeviceAsync(new JsonObject { ["id"] = "sensor-1", ["credentials"] = new JsonArray(CloudIotClient.PublicKeyCredential(publicPem, format, DateTimeOffset.UtcNow.AddDays(30))) }, cancellationToken);
        Step($"registered sensor-1 (numId {created["numId"]})");

        // 2. Connect over the bridge protocol with a JWT password.
        await using var device = new GcpBridgeClient(new GcpBridgeOptions { Host = "localhost", Port = broker.Port, TrustedRoots = broker.TrustedRoots, Registry = registryPath, DeviceId = "sensor-1", PrivateKeyPem = privatePem });
        var commands = new ConcurrentQueue<(string? Sub, string Data)>();
        var installed = "1.0.0";
        await device.ConnectAsync(cancellationToken);
        await device.SubscribeCommandsAsync((sub, data, _) => { commands.Enqueue((sub, Encoding.UTF8.GetString(data.Span))); return default; }, cancellationToken: cancellationToken);
        await device.SubscribeConfigAsync(async (data, ct) =>
        {
            if (JsonNode.Parse(data.Span) is not JsonObject config || !config.ContainsKey(FirmwareStateContract.PropertyName)) return;
            var desired = FirmwareStateContract.ParseDesired(config[FirmwareStateContract.PropertyName]);
            installed = desired.Release.Version; // the download and install are the device's business; the scenario reports success
            var state = new JsonObject { [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildReported(new ReportedFirmware { Version = installed, TargetVersion = installed, Status = FirmwareUpdateStatus.Succeeded, RolloutId = desired.RolloutId }) };
            await device.PublishStateAsync(Encoding.UTF8.GetBytes(state.ToJsonString()), cancellationToken: ct);
        }, cancellationToken: cancellationToken);
        await device.PublishStateAsync(Encoding.UTF8.GetBytes(new JsonObject { [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildReported(new ReportedFirmware { Version = installed }) }.ToJsonString()), cancellationToken: cancellationToken);
        Step("sensor-1 connected over the bridge protocol");

        // 3. Telemetry: device → bridge → Pub/Sub emulator → pull/ack channel.
        var records = Enumerable.Range(0, 10).Select(i => new TelemetryRecord("sensor-1", "temperature", 20 + i, DateTimeOffset.UtcNow)).ToArray();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        TelemetryJson.WriteBatch(buffer, records);
        await device.PublishEventAsync(buffer.WrittenMemory, cancellationToken: cancellationToken);
        var channel = new PubSubTelemetryChannel(pubsub, new PubSubTelemetryChannelOptions { SubscriptionId = topic + "-sub", EmptyPullDelay = TimeSpan.FromMilliseconds(50) });
        var received = 0;
        using (var telemetryDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            telemetryDeadline.CancelAfter(TimeSpan.FromSeconds(30));
            await foreach (var record in channel.ReadAllAsync(telemetryDeadline.Token))
                if (++received == records.Length) break;
        }
        Step($"read {received} telemetry records from Pub/Sub");

        // 4. A command with a subfolder.
        await registry.SendCommandToDeviceAsync("sensor-1", "reboot"u8.ToArray(), "ops", cancellationToken);
        await Until(() => commands.Any(c => c == ("ops", "reboot")), cancellationToken);
        Step("sensor-1 received command 'reboot' in subfolder 'ops'");

        // 5. Firmware through a versioned config and the reported state.
        await firmware.CreateReleaseAsync(new FirmwareRelease { Version = "1.0.0", Uri = new Uri("https://firmware.example/1.0.0.bin"), Sha256 = new string('a', 64), SizeBytes = 1 }, cancellationToken);
        await firmware.CreateReleaseAsync(new FirmwareRelease { Version = "2.0.0", Uri = new Uri("https://firmware.example/2.0.0.bin"), Sha256 = new string('b', 64), SizeBytes = 1 }, cancellationToken);
        await Until(() => registryDouble.Server.Requests.Count > 0 && installed == "1.0.0", cancellationToken);
        await Until(async () => (await registry.ListStatesAsync("sensor-1", 1, cancellationToken)).Count > 0, cancellationToken);
        var rollout = (await firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["sensor-1"] }, cancellationToken)).Value;
        await Until(async () => (rollout = await firmware.GetRolloutAsync(rollout.Id, cancellationToken)).Status != RolloutStatus.InProgress, cancellationToken);
        Step($"rollout {rollout.Status}: sensor-1 runs {installed}");
        return steps;
    }

    private static Task Until(Func<bool> condition, CancellationToken cancellationToken) => Until(() => Task.FromResult(condition()), cancellationToken);

    private static async Task Until(Func<Task<bool>> condition, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        while (!await condition())
            await Task.Delay(50, deadline.Token);
    }
}

[Collection(PubSubEmulatorCollection.Name)]
public sealed class GcpScenarioTests(PubSubEmulator emulator)
{
    [Fact]
    public async Task The_quickstart_scenario_runs_against_the_emulator_the_registry_double_and_mosquitto()
    {
        var steps = await GcpScenario.RunAsync(emulator);
        Assert.Equal(5, steps.Count);
        Assert.Equal("read 10 telemetry records from Pub/Sub", steps[2]);
        Assert.Equal("rollout Completed: sensor-1 runs 2.0.0", steps[4]);
    }
}
