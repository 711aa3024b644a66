using System.Diagnostics;
using System.Text;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Local.Tests.Diagnostics;

/// <summary>
/// Spans and metrics of the Local provider, read through a real <see cref="ActivityListener"/> and <c>MeterListener</c>
/// while the real broker, registry and device connections do the work.
/// </summary>
public sealed class LocalObservabilityTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private LocalIoTProvider _provider = null!;

    public async Task InitializeAsync() => _provider = await LocalIoTProvider.StartAsync().WaitAsync(Timeout);

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    [Fact]
    public async Task Registry_calls_are_spans_with_the_provider_and_device_and_a_failure_is_an_error_span()
    {
        using var trace = new ActivityRecorder();

        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-reg-1", Credential = CredentialRequest.X509 }).WaitAsync(Timeout);
        await _provider.Registry.GetAsync("otel-reg-1").WaitAsync(Timeout);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => _provider.Registry.GetAsync("otel-missing").WaitAsync(Timeout));
        var listed = await _provider.Registry.ListAsync().ToListAsync();
        await _provider.Registry.GetPresenceAsync("otel-reg-1").WaitAsync(Timeout);
        var presence = await _provider.Registry.ListPresenceAsync().ToListAsync();

        var register = Assert.Single(trace.Named("registry.register"));
        Assert.Equal("Local", register.Tag("iotmastery.provider"));
        Assert.Equal("otel-reg-1", register.Tag("iotmastery.device.id"));
        Assert.Equal(ActivityStatusCode.Unset, register.Status);
        var gets = trace.Named("registry.get");
        Assert.Equal(2, gets.Count);
        var failed = Assert.Single(gets, g => (string?)g.Tag("iotmastery.device.id") == "otel-missing");
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.Equal("DeviceNotFound", failed.Tag("error.type"));
        // The listing is traced a page at a time: one span per page fetched.
        Assert.NotEmpty(listed);
        Assert.NotEmpty(trace.Named("registry.list_page"));
        // Presence is a registry call of its own: one span, not one for it and another for the device lookup inside
        // (the two registry.get spans above are the two GetAsync calls).
        Assert.Equal("otel-reg-1", Assert.Single(trace.Named("registry.get_presence")).Tag("iotmastery.device.id"));
        Assert.NotEmpty(presence);
        Assert.NotEmpty(trace.Named("registry.list_presence_page"));
        // The issued private key and certificate never reach a tag.
        Assert.DoesNotContain(ActivityTags.EveryValue(trace.Spans), v => v.Contains("PRIVATE KEY", StringComparison.Ordinal) || v.Contains("CERTIFICATE", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_command_is_a_span_and_a_latency_point_tagged_with_provider_and_outcome()
    {
        using var trace = new ActivityRecorder();
        using var latency = new MeasurementRecorder("iotmastery.command.duration");
        var registration = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-cmd-1", Credential = CredentialRequest.X509 }).WaitAsync(Timeout);
        await using var device = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "otel-cmd-1", Credential = registration.Credential! });
        device.SetCommandHandler((_, _) => ValueTask.FromResult(new CommandResponse(202)));
        await device.ConnectAsync().WaitAsync(Timeout);
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-cmd-off" }).WaitAsync(Timeout);

        var reply = await _provider.Commands.InvokeAsync("otel-cmd-1", new DeviceCommand { Name = "otel-reboot" }).WaitAsync(Timeout);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceOffline, () => _provider.Commands.InvokeAsync("otel-cmd-off", new DeviceCommand { Name = "otel-reboot" }).WaitAsync(Timeout));

        Assert.Equal(202, reply.Status);
        var spans = trace.Named("command.invoke");
        Assert.Equal(2, spans.Count);
        Assert.All(spans, s => Assert.Equal("otel-reboot", s.Tag("iotmastery.command.name")));
        var answered = Assert.Single(spans, s => (string?)s.Tag("iotmastery.device.id") == "otel-cmd-1");
        Assert.Equal(202, answered.Tag("iotmastery.command.status"));
        var offline = Assert.Single(spans, s => (string?)s.Tag("iotmastery.device.id") == "otel-cmd-off");
        Assert.Equal(ActivityStatusCode.Error, offline.Status);
        Assert.Equal("DeviceOffline", offline.Tag("error.type"));

        // Other tests may command Local devices at the same time, so these points are found among theirs, not counted.
        var points = latency.Measurements.Where(m => (string?)m.Tags.GetValueOrDefault("provider") == "Local").ToList();
        var success = Assert.Single(points, m => (string?)m.Tags["outcome"] == "success");
        Assert.InRange(success.Value, 0, Timeout.TotalMilliseconds);
        Assert.Contains(points, m => (string?)m.Tags["outcome"] == "device_offline");
        Assert.All(latency.Measurements, m => Assert.Equal(["outcome", "provider"], m.Tags.Keys.Order()));
    }

    [Fact]
    public async Task State_updates_and_rollout_steps_are_spans_tagged_with_the_rollout_after_each_step()
    {
        using var trace = new ActivityRecorder();
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-fw-1" }).WaitAsync(Timeout);
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-fw-2" }).WaitAsync(Timeout);

        await _provider.State.UpdateDesiredAsync("otel-fw-1", new System.Text.Json.Nodes.JsonObject { ["mode"] = "eco" }).WaitAsync(Timeout);
        await _provider.Firmware.CreateReleaseAsync(new FirmwareRelease
        {
            Version = "9.1.0", Uri = new Uri("https://fw.example.test/9.1.0.bin"), Sha256 = new string('a', 64), SizeBytes = 1000,
        }).WaitAsync(Timeout);
        var started = (await _provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "9.1.0", DeviceIds = ["otel-fw-1", "otel-fw-2"], WaveSizes = [1, 1] }).WaitAsync(Timeout)).Value;
        await _provider.Firmware.GetRolloutAsync(started.Id).WaitAsync(Timeout);
        var cancelled = await _provider.Firmware.CancelRolloutAsync(started.Id).WaitAsync(Timeout);

        var update = Assert.Single(trace.Named("state.update_desired"));
        Assert.Equal("otel-fw-1", update.Tag("iotmastery.device.id"));
        Assert.DoesNotContain(ActivityTags.EveryValue([update]), v => v.Contains("eco", StringComparison.Ordinal));
        Assert.Equal("9.1.0", Assert.Single(trace.Named("firmware.create_release")).Tag("iotmastery.firmware.version"));
        foreach (var (name, rollout) in new[] { ("firmware.start_rollout", started), ("firmware.cancel_rollout", cancelled) })
        {
            var span = Assert.Single(trace.Named(name));
            Assert.Equal("Local", span.Tag("iotmastery.provider"));
            Assert.Equal(rollout.Id, span.Tag("iotmastery.rollout.id"));
            Assert.Equal("9.1.0", span.Tag("iotmastery.firmware.version"));
            Assert.Equal(rollout.Status.ToString(), span.Tag("iotmastery.rollout.status"));
            Assert.Equal(rollout.CurrentWave, span.Tag("iotmastery.rollout.wave"));
        }
        Assert.Equal(started.Id, Assert.Single(trace.Named("firmware.get_rollout")).Tag("iotmastery.rollout.id"));
        Assert.NotEqual(started.Status, cancelled.Status);
    }

    [Fact]
    public async Task Records_sent_are_counted_under_the_provider_that_acknowledged_them()
    {
        using var sent = new MeasurementRecorder("iotmastery.telemetry.records.sent");
        var registration = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-tlm-1", Credential = CredentialRequest.X509 }).WaitAsync(Timeout);
        await using var device = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "otel-tlm-1", Credential = registration.Credential! });
        await device.ConnectAsync().WaitAsync(Timeout);
        for (int i = 0; i < 700; i++)
            await device.SendTelemetryAsync(new TelemetryRecord("otel-tlm-1", "temperature", i, DateTimeOffset.UnixEpoch.AddSeconds(i)));
        await device.FlushAsync().WaitAsync(Timeout);

        // Other tests may send Local telemetry at the same time, so this device's 700 are a lower bound of the Local sum.
        var local = sent.Measurements.Where(m => (string?)m.Tags.GetValueOrDefault("provider") == "Local").ToList();
        Assert.InRange(local.Sum(m => m.Value), 700, double.MaxValue);
        // One tag, the provider: nothing per device or per record, so the series stay few.
        Assert.All(local, m => Assert.Equal(["provider"], m.Tags.Keys));
    }

    [Fact]
    public async Task A_reconnect_after_the_broker_came_back_is_counted_once_under_the_provider()
    {
        var provider = "test-reconnect-" + Guid.NewGuid().ToString("N")[..8];
        using var reconnects = new MeasurementRecorder("iotmastery.mqtt.reconnects");
        await using var mosquitto = await MosquittoBroker.StartAsync();
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = mosquitto.Port,
            ClientId = "dev-reconnect",
            ClientCertificate = mosquitto.Ca.IssueDeviceCertificate("dev-reconnect").ToCertificate(),
            TrustedRoots = [mosquitto.Ca.Certificate],
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        }, provider);
        await client.ConnectAsync().WaitAsync(Timeout);
        Assert.Equal(0, Count());

        await mosquitto.KillAsync();
        await mosquitto.RestartAsync();
        // Bounded: the counter is bumped right after the reconnect, on the client's own loop.
        using var deadline = new CancellationTokenSource(Timeout);
        while (Count() == 0) await Task.Delay(50, deadline.Token);
        await client.PublishAsync("devices/dev-reconnect/events", Encoding.UTF8.GetBytes("back")).WaitAsync(Timeout);
        Assert.Equal(1, Count());

        double Count() => reconnects.Measurements.Where(m => (string?)m.Tags.GetValueOrDefault("provider") == provider).Sum(m => m.Value);
    }
}
