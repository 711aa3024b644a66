using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Aws.Tests.Fakes;

/// <summary>
/// The device side of the AWS provider (<see cref="AwsDeviceConnection"/>) against <see cref="AwsIotMqttFake"/>, which
/// the official AWS device SDK has driven first (<see cref="AwsDeviceSdkConformanceTests"/>).
/// </summary>
public sealed class AwsDeviceConnectionTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create("AWS fake device CA");
    private AwsIotMqttFake _fake = null!;

    public async Task InitializeAsync() => _fake = await AwsIotMqttFake.StartAsync(_ca);

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        _ca.Dispose();
    }

    private AwsDeviceConnection Connect(string thing, TelemetryPipelineOptions? telemetry = null) =>
        new(new DeviceConnectionOptions { DeviceId = thing, Credential = _ca.IssueDeviceCertificate(thing), Telemetry = telemetry ?? new() },
            new AwsDeviceEndpoint("localhost", _fake.Port, _fake.TrustedRoots), TimeProvider.System, NullLoggerFactory.Instance);

    private async Task<AwsServiceConnection> ServiceAsync()
    {
        var credential = _ca.IssueDeviceCertificate("iotm-service");
        var service = new AwsServiceConnection(new AwsServiceMqttOptions { Host = "localhost", Port = _fake.Port, ClientId = "iotm-service", ClientCertificate = credential.ToCertificate(), TrustedRoots = _fake.TrustedRoots },
            10_000, TimeProvider.System, NullLoggerFactory.Instance);
        using var cts = new CancellationTokenSource(Timeout);
        await service.StartAsync(cts.Token);
        return service;
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Waited {Timeout} for {what}.");
            await Task.Delay(25);
        }
    }

    private static JsonObject State(string section, JsonObject values) => new() { ["state"] = new JsonObject { [section] = values } };

    [Fact]
    public async Task Desired_state_arrives_on_connect_and_through_delta()
    {
        await _fake.UpdateShadowAsync("dev-shadow", State("desired", new JsonObject { ["mode"] = "eco", ["fan"] = new JsonObject { ["speed"] = 1 } }));
        await using var device = Connect("dev-shadow");
        var changes = new ConcurrentQueue<(JsonObject Desired, long Version)>();
        device.SetDesiredStateHandler((document, version, _) => { changes.Enqueue((document, version)); return ValueTask.CompletedTask; });
        using var cts = new CancellationTokenSource(Timeout);
        await device.ConnectAsync(cts.Token);

        await Eventually(() => changes.Any(c => (string?)c.Desired["mode"] == "eco"), "the desired state from get/accepted");
        await _fake.UpdateShadowAsync("dev-shadow", State("desired", new JsonObject { ["fan"] = new JsonObject { ["speed"] = 3 } }));

        // The delta carries only fan.speed; the device shows the whole desired document.
        await Eventually(() => changes.Any(c => (int?)c.Desired["fan"]?["speed"] == 3), "the desired state after a delta");
        var last = changes.Last();
        Assert.Equal("eco", (string?)last.Desired["mode"]);
        Assert.True(changes.Select(c => c.Version).SequenceEqual(changes.Select(c => c.Version).Order()));
    }

    [Fact]
    public async Task Desired_state_carries_the_shadow_version_the_fleet_side_sees()
    {
        // The fleet side reads DeviceState.DesiredVersion = the shadow version; the device must see the same number.
        for (var i = 0; i < 3; i++) await _fake.UpdateShadowAsync("dev-version", State("reported", new JsonObject { ["mode"] = "off", ["boot"] = i }));
        await _fake.UpdateShadowAsync("dev-version", State("desired", new JsonObject { ["mode"] = "eco" }));
        await using var device = Connect("dev-version");
        var changes = new ConcurrentQueue<(JsonObject Desired, long Version)>();
        device.SetDesiredStateHandler((document, version, _) => { changes.Enqueue((document, version)); return ValueTask.CompletedTask; });
        using var cts = new CancellationTokenSource(Timeout);
        await device.ConnectAsync(cts.Token);

        await Eventually(() => changes.Any(c => (string?)c.Desired["mode"] == "eco"), "the desired state from get/accepted");
        Assert.Equal(4, changes.Single(c => (string?)c.Desired["mode"] == "eco").Version);
        await _fake.UpdateShadowAsync("dev-version", State("desired", new JsonObject { ["mode"] = "boost" }));
        await Eventually(() => changes.Any(c => (string?)c.Desired["mode"] == "boost"), "the desired state after a delta");
        Assert.Equal((long)_fake.GetShadow("dev-version")!["version"]!, changes.Single(c => (string?)c.Desired["mode"] == "boost").Version);
    }

    [Fact]
    public async Task Reported_state_updates_the_shadow_and_clears_the_delta()
    {
        await _fake.UpdateShadowAsync("dev-report", State("desired", new JsonObject { ["mode"] = "eco" }));
        await using var device = Connect("dev-report");
        using var cts = new CancellationTokenSource(Timeout);
        await device.ConnectAsync(cts.Token);

        await device.ReportStateAsync(new JsonObject { ["mode"] = "eco", ["temp"] = 21.5 }, cts.Token);

        await Eventually(() => (double?)_fake.GetShadow("dev-report")?["state"]?["reported"]?["temp"] == 21.5, "the reported state");
        var shadow = _fake.GetShadow("dev-report")!;
        Assert.Equal(2, (int)shadow["version"]!);
        Assert.Null(shadow["state"]!["delta"]);
        Assert.Contains(_fake.Received, r => r.ClientId == "dev-report" && r.Topic == "$aws/things/dev-report/shadow/update");
    }

    [Fact]
    public async Task Desired_firmware_in_the_classic_shadow_reaches_the_update_agent_and_its_reports_reach_the_reported_shadow()
    {
        var image = RandomNumberGenerator.GetBytes(4096);
        var release = new FirmwareRelease { Version = "2.0.0", Uri = new Uri("https://firmware.example/fw-2.0.0.bin"), Sha256 = Convert.ToHexStringLower(SHA256.HashData(image)), SizeBytes = image.Length };
        // Written before the device connects: the shadow get on connect must bring it.
        await _fake.UpdateShadowAsync("dev-fw", new JsonObject { ["state"] = new JsonObject { ["desired"] = new JsonObject { ["firmware"] = FirmwareStateContract.BuildDesired(release, "ro-7") } } });
        await using var device = Connect("dev-fw");
        var installed = new ConcurrentQueue<string>();
        var agent = new FirmwareUpdateAgent(device, "1.0.0", (r, stream, ct) => { installed.Enqueue(r.Version); return ValueTask.FromResult(true); },
            (_, offset, _) => ValueTask.FromResult<Stream>(new MemoryStream(image[(int)offset..])));
        device.SetDesiredStateHandler(agent.HandleDesiredStateAsync);
        using var cts = new CancellationTokenSource(Timeout);
        await device.ConnectAsync(cts.Token);

        await Eventually(() => (string?)_fake.GetShadow("dev-fw")?["state"]?["reported"]?["firmware"]?["status"] == "succeeded", "the reported firmware to succeed");
        var reported = _fake.GetShadow("dev-fw")!["state"]!["reported"]!["firmware"]!;
        Assert.Equal(("2.0.0", "ro-7"), ((string?)reported["version"], (string?)reported["rolloutId"]));
        Assert.Equal(["2.0.0"], installed);
        Assert.Equal("2.0.0", agent.RunningVersion);
    }

    [Fact]
    public async Task A_command_round_trips_through_the_broker()
    {
        await using var device = Connect("dev-cmd");
        device.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["echo"] = command.Payload?.DeepClone(), ["name"] = command.Name })));
        using var cts = new CancellationTokenSource(Timeout);
        await device.ConnectAsync(cts.Token);
        await using var service = await ServiceAsync();

        var reply = await service.RequestAsync("dev-cmd", "reboot", "{\"delay\":5}"u8.ToArray(), Timeout, TimeProvider.System, cts.Token);

        var doc = JsonNode.Parse(reply.Span)!;
        Assert.Equal(200, (int)doc["status"]!);
        Assert.Equal("reboot", (string?)doc["payload"]!["name"]);
        Assert.Equal(5, (int)doc["payload"]!["echo"]!["delay"]!);
    }

    [Fact]
    public async Task Telemetry_flows_through_the_pipeline_in_batches_within_the_AWS_message_limit()
    {
        await using var service = await ServiceAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var received = new ConcurrentBag<TelemetryRecord>();
        var reader = Task.Run(async () =>
        {
            await foreach (var r in service.ReadAllAsync(cts.Token)) received.Add(r);
        });
        await using var device = Connect("dev-tel");
        await device.ConnectAsync(cts.Token);
        var start = DateTimeOffset.UtcNow;
        const int count = 3000;
        for (var i = 0; i < count; i++)
            await device.SendTelemetryAsync(new TelemetryRecord("dev-tel", "temperature.sensor-" + (i % 7), i, start.AddMilliseconds(i)), cts.Token);
        await device.FlushAsync(cts.Token);

        await Eventually(() => received.Count >= count, "every telemetry record at the service");
        Assert.Equal(count, received.Count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (double)i), received.Select(r => r.Value).Order());
        var batches = _fake.Received.Where(r => r.Topic == "iotmastery/dev-tel/telemetry").ToList();
        Assert.True(batches.Count > 1, "3000 records should not fit one batch");
        Assert.All(batches, b => Assert.True(System.Text.Encoding.UTF8.GetByteCount(b.Payload) <= 128 * 1024));
        var limits = AwsDeviceConnection.Limits("iotmastery/dev-tel/telemetry");
        Assert.Equal((128 * 1024, 5 * 1024, 100, 512 * 1024), (limits.MaxMessageBytes, limits.BillingUnitBytes, limits.MaxMessagesPerSecond, limits.MaxBytesPerSecond));
        Assert.Equal("iotmastery/dev-tel/telemetry".Length, limits.BillingOverheadBytes);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reader);
    }

    [Fact]
    public async Task A_certificate_from_an_unknown_CA_is_refused()
    {
        using var other = LocalCertificateAuthority.Create("Not registered with AWS");
        await using var device = new AwsDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-rogue", Credential = other.IssueDeviceCertificate("dev-rogue") },
            new AwsDeviceEndpoint("localhost", _fake.Port, _fake.TrustedRoots), TimeProvider.System, NullLoggerFactory.Instance);
        using var cts = new CancellationTokenSource(Timeout);

        await Assert.ThrowsAnyAsync<IoTException>(() => device.ConnectAsync(cts.Token));
        Assert.False(device.IsConnected);
    }
}
