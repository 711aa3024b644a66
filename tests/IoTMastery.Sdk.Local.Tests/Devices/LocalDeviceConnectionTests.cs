using IoTMastery.Sdk.TestSupport;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Local.Tests;

public sealed class LocalDeviceConnectionTests
{
    private static readonly TimeSpan Timeout = BrokerTestHost.Timeout;

    [Fact]
    public async Task Telemetry_reaches_the_channel_in_order_and_flush_waits_for_acknowledgement()
    {
        await using var host = await BrokerTestHost.StartAsync();
        await using var device = host.CreateDevice("dev-1", host.AddDevice("dev-1"));
        await device.ConnectAsync().WaitAsync(Timeout);
        await using var reader = host.Telemetry.ReadAllAsync().GetAsyncEnumerator();
        var first = reader.MoveNextAsync();
        var start = DateTimeOffset.UnixEpoch;

        for (var i = 0; i < 300; i++)
            await device.SendTelemetryAsync(new TelemetryRecord("dev-1", "seq", i, start.AddMilliseconds(i))).AsTask().WaitAsync(Timeout);
        await device.FlushAsync().WaitAsync(Timeout);

        Assert.True(await first.AsTask().WaitAsync(Timeout));
        var received = new List<double> { reader.Current.Value };
        received.AddRange((await reader.TakeAsync(299)).Select(r => r.Value));
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (double)i), received);
        Assert.Equal(0, host.Telemetry.DroppedRecords);
    }

    [Fact]
    public async Task Socket_buffers_default_to_512_KiB_on_Local_follow_the_device_options_and_a_large_stream_arrives_in_order()
    {
        await using var host = await BrokerTestHost.StartAsync();
        static int BufferOf(LocalDeviceConnection connection) =>
            Assert.IsType<MQTTnet.MqttClientTcpOptions>(connection.Client.BuildOptions(null).ChannelOptions).BufferSize;
        await using (var small = new LocalDeviceConnection(
            new DeviceConnectionOptions { DeviceId = "dev-3", Credential = host.AddDevice("dev-3"), SocketBufferBytes = 8192 },
            new LocalDeviceEndpoint { Port = host.Broker.Port, CaCertificate = host.Ca.Certificate }))
        {
            Assert.Equal(8192, BufferOf(small));
        }
        await using var device = new LocalDeviceConnection(
            new DeviceConnectionOptions { DeviceId = "dev-1", Credential = host.AddDevice("dev-1") },
            new LocalDeviceEndpoint { Port = host.Broker.Port, CaCertificate = host.Ca.Certificate });
        Assert.Equal(512 * 1024, BufferOf(device));
        await device.ConnectAsync().WaitAsync(Timeout);
        await using var reader = host.Telemetry.ReadAllAsync().GetAsyncEnumerator();
        var first = reader.MoveNextAsync();

        // 8 batches of the default 512 records, several in flight; within the reader's buffer, so nothing is dropped for a slow test.
        const int Count = 4096;
        for (var i = 0; i < Count; i++)
            await device.SendTelemetryAsync(new TelemetryRecord("dev-1", "seq", i, DateTimeOffset.UnixEpoch.AddMilliseconds(i))).AsTask().WaitAsync(Timeout);
        await device.FlushAsync().WaitAsync(Timeout);

        Assert.True(await first.AsTask().WaitAsync(Timeout));
        var received = new List<double> { reader.Current.Value };
        received.AddRange((await reader.TakeAsync(Count - 1)).Select(r => r.Value));
        Assert.Equal(Enumerable.Range(0, Count).Select(i => (double)i), received);
        Assert.Equal(0, host.Telemetry.DroppedRecords);
        // Out of range is refused when the connection is created, naming the setting.
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new LocalDeviceConnection(
            new DeviceConnectionOptions { DeviceId = "dev-2", Credential = host.AddDevice("dev-2"), SocketBufferBytes = 1024 },
            new LocalDeviceEndpoint { Port = host.Broker.Port, CaCertificate = host.Ca.Certificate }));
        Assert.Equal("SocketBufferBytes", error.ParamName);
    }

    [Fact]
    public async Task SendTelemetry_rejects_another_devices_record_before_any_io()
    {
        await using var host = await BrokerTestHost.StartAsync();
        await using var device = host.CreateDevice("dev-1", host.AddDevice("dev-1"));

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => device.SendTelemetryAsync(new TelemetryRecord("dev-2", "t", 1, DateTimeOffset.UnixEpoch)).AsTask());
        Assert.Contains("dev-2", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => device.SendTelemetryAsync(default).AsTask());
    }

    [Fact]
    public async Task Command_round_trips_with_payload_and_reply()
    {
        await using var host = await BrokerTestHost.StartAsync();
        await using var device = host.CreateDevice("dev-1", host.AddDevice("dev-1"));
        device.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["echo"] = command.Payload?["x"]?.DeepClone(), ["name"] = command.Name })));
        await device.ConnectAsync().WaitAsync(Timeout);

        var response = await host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "echo", Payload = new JsonObject { ["x"] = 42 } }).WaitAsync(Timeout);

        Assert.Equal(200, response.Status);
        Assert.Equal(42, (int?)response.Payload?["echo"]);
        Assert.Equal("echo", (string?)response.Payload?["name"]);
        Assert.Equal(0, host.Replies.PendingCount);
    }

    [Fact]
    public async Task Command_without_a_handler_is_answered_501()
    {
        await using var host = await BrokerTestHost.StartAsync();
        await using var device = host.CreateDevice("dev-1", host.AddDevice("dev-1"));
        await device.ConnectAsync().WaitAsync(Timeout);

        var response = await host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "reboot" }).WaitAsync(Timeout);

        Assert.Equal(501, response.Status);
    }

    [Fact]
    public async Task Command_without_a_reply_times_out_on_the_injected_clock_and_leaves_nothing_pending()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await BrokerTestHost.StartAsync(commandTime: clock);
        await using var device = host.CreateDevice("dev-1", host.AddDevice("dev-1"));
        var received = TestWaits.NewSignal<bool>();
        var never = new TaskCompletionSource<CommandResponse>();
        device.SetCommandHandler(async (_, _) =>
        {
            received.TrySetResult(true);
            return await never.Task;
        });
        await device.ConnectAsync().WaitAsync(Timeout);

        var call = host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "hang", Timeout = TimeSpan.FromSeconds(5) });
        await received.Task.WaitAsync(Timeout);
        clock.Advance(TimeSpan.FromSeconds(6));

        var ex = await IoTAssert.ThrowsAsync(IoTErrorKind.CommandTimeout, () => call.WaitAsync(Timeout));
        Assert.Equal("dev-1", ex.DeviceId);
        Assert.Contains("'hang'", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, host.Replies.PendingCount);
    }

    [Fact]
    public async Task Command_cancellation_is_honoured_and_leaves_nothing_pending()
    {
        await using var host = await BrokerTestHost.StartAsync();
        await using var device = host.CreateDevice("dev-1", host.AddDevice("dev-1"));
        var received = TestWaits.NewSignal<bool>();
        device.SetCommandHandler(async (_, ct) =>
        {
            received.TrySetResult(true);
            await Task.Delay(System.Threading.Timeout.Infinite, ct);
            return new CommandResponse(200);
        });
        await device.ConnectAsync().WaitAsync(Timeout);
        using var cts = new CancellationTokenSource();

        var call = host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "hang" }, cts.Token);
        await received.Task.WaitAsync(Timeout);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Timeout));
        Assert.Equal(0, host.Replies.PendingCount);
    }

    [Fact]
    public async Task Command_to_a_registered_but_disconnected_device_fails_offline()
    {
        await using var host = await BrokerTestHost.StartAsync();
        host.AddDevice("dev-1");

        var ex = await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceOffline, () => host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "reboot" }).WaitAsync(Timeout));
        Assert.True(ex.IsTransient);
    }

    [Fact]
    public async Task Command_to_an_unknown_device_fails_not_found_and_bad_input_fails_before_any_io()
    {
        await using var host = await BrokerTestHost.StartAsync();

        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => host.Commands.InvokeAsync("ghost", new DeviceCommand { Name = "reboot" }).WaitAsync(Timeout));
        var gets = host.Registry.Gets;
        await Assert.ThrowsAsync<ArgumentException>(() => host.Commands.InvokeAsync("bad/id", new DeviceCommand { Name = "reboot" }));
        await Assert.ThrowsAsync<ArgumentException>(() => host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "no spaces" }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "x", Timeout = TimeSpan.Zero }));
        Assert.Equal(gets, host.Registry.Gets);
    }

    [Fact]
    public async Task Retained_desired_state_is_delivered_on_connect_and_never_goes_back()
    {
        await using var host = await BrokerTestHost.StartAsync();
        await using var device = host.CreateDevice("dev-1", host.AddDevice("dev-1"));
        var changes = Channel.CreateUnbounded<(JsonObject Desired, long Version)>();
        device.SetDesiredStateHandler((document, version, _) =>
        {
            changes.Writer.TryWrite((document, version));
            return ValueTask.CompletedTask;
        });
        await PublishDesiredAsync(host, "dev-1", 3, """{"interval":10}""");

        await device.ConnectAsync().WaitAsync(Timeout);
        var onConnect = await changes.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        await PublishDesiredAsync(host, "dev-1", 2, """{"interval":99}"""); // stale: must be ignored
        await PublishDesiredAsync(host, "dev-1", 5, """{"interval":20}""");
        var next = await changes.Reader.ReadAsync().AsTask().WaitAsync(Timeout);

        Assert.Equal((3L, 10), (onConnect.Version, (int)onConnect.Desired["interval"]!));
        Assert.Equal((5L, 20), (next.Version, (int)next.Desired["interval"]!));
    }

    [Fact]
    public async Task Reconnects_after_the_broker_restarts_on_the_same_port_and_resubscribes()
    {
        await using var host = await BrokerTestHost.StartAsync();
        await using var device = host.CreateDevice("dev-1", host.AddDevice("dev-1"));
        device.SetCommandHandler((_, _) => ValueTask.FromResult(new CommandResponse(200)));
        await device.ConnectAsync().WaitAsync(Timeout);
        var port = host.Broker.Port;
        var lost = TestWaits.NewSignal<MqttDisconnectedEventArgs>();
        var back = TestWaits.NewSignal<bool>();
        device.Client.Disconnected += (_, e) => lost.TrySetResult(e);
        device.Client.Connected += (_, _) => back.TrySetResult(true);

        await host.Broker.StopAsync().WaitAsync(Timeout);
        Assert.True((await lost.Task.WaitAsync(Timeout)).WillReconnect);
        await host.Broker.StartAsync().WaitAsync(Timeout);
        await back.Task.WaitAsync(Timeout);

        Assert.Equal(port, host.Broker.Port);
        // Connected is raised only after subscriptions are restored, so the command path works at once.
        var response = await host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "ping" }).WaitAsync(Timeout);
        Assert.Equal(200, response.Status);
    }

    [Fact]
    public async Task Revoked_device_gets_an_authentication_error_and_no_reconnect_loop()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await BrokerTestHost.StartAsync();
        var credential = host.AddDevice("dev-1");
        host.Policy.Revoke("dev-1", credential.Id);
        await using var device = host.CreateDevice("dev-1", credential, clock);

        var ex = await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => device.ConnectAsync().WaitAsync(Timeout));
        clock.Advance(TimeSpan.FromHours(1));

        Assert.False(ex.IsTransient);
        Assert.Equal("NotAuthorized", ex.ErrorCode);
        Assert.Equal(1, host.Policy.Calls);
        Assert.False(device.IsConnected);
    }

    [Fact]
    public async Task Device_revoked_while_connected_stops_reconnecting_after_one_refusal()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await BrokerTestHost.StartAsync();
        var credential = host.AddDevice("dev-1");
        await using var device = host.CreateDevice("dev-1", credential, clock);
        await device.ConnectAsync().WaitAsync(Timeout);
        var gaveUp = TestWaits.NewSignal<MqttDisconnectedEventArgs>();
        device.Client.Disconnected += (_, e) =>
        {
            if (!e.WillReconnect) gaveUp.TrySetResult(e);
        };

        host.Policy.Revoke("dev-1", credential.Id);
        await host.Broker.DisconnectAsync("dev-1", CancellationToken.None).WaitAsync(Timeout);
        // The backoff waits on the fake clock; advance it until the single refused attempt has happened.
        using (var deadline = new CancellationTokenSource(Timeout))
        {
            while (!gaveUp.Task.IsCompleted)
            {
                deadline.Token.ThrowIfCancellationRequested();
                clock.Advance(TimeSpan.FromSeconds(1));
                await Task.WhenAny(gaveUp.Task, Task.Delay(20, CancellationToken.None));
            }
        }
        var callsAfterRefusal = host.Policy.Calls;
        clock.Advance(TimeSpan.FromHours(1));

        var args = await gaveUp.Task;
        IoTAssert.Is(IoTErrorKind.Authentication, args.Error);
        IoTAssert.Is(IoTErrorKind.Authentication, device.Client.TerminalError);
        Assert.Equal(2, callsAfterRefusal); // the first connect and exactly one refused reconnect
        Assert.Equal(callsAfterRefusal, host.Policy.Calls);
    }

    private static Task PublishDesiredAsync(BrokerTestHost host, string deviceId, long version, string desiredJson) =>
        host.Broker.PublishAsync(LocalTopics.DesiredState(deviceId), Encoding.UTF8.GetBytes($$"""{"version":{{version}},"desired":{{desiredJson}}}"""), retain: true, CancellationToken.None).WaitAsync(Timeout);
}
