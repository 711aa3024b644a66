using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// One device connection lifecycle on every provider: handlers set after connecting work, a dropped connection comes back
/// with its subscriptions, a handler running when the
/// connection is disposed is cancelled and waited for (its reply still reaches the fleet), and after disposal every member
/// but <see cref="IDeviceConnection.DeviceId"/> and <see cref="IDeviceConnection.IsConnected"/> throws
/// <see cref="ObjectDisposedException"/> while a second dispose does nothing.
/// </summary>
public abstract class ConnectionLifecycleContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task A_command_handler_set_after_connecting_answers()
    {
        var registration = await RegisterAsync();
        var device = await ConnectAsync(registration);

        device.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["did"] = command.Name })));

        var reply = await Provider.Commands.InvokeAsync(registration.Device.Id, new DeviceCommand { Name = "late", Timeout = TimeSpan.FromSeconds(20) }, Ct);
        Assert.Equal(200, reply.Status);
        Assert.Equal("late", reply.Payload?["did"]?.GetValue<string>());
    }

    [Fact]
    public async Task After_the_connection_drops_it_reconnects_with_its_subscriptions_and_commands_arrive_again()
    {
        var registration = await RegisterAsync();
        var device = await ConnectAsync(registration, c => c.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["did"] = command.Name }))));
        var client = IoTMastery.Sdk.Mqtt.MqttDeviceConnection.Of(device)?.Client;
        Assert.NotNull(client);
        var back = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Connected += (_, _) => back.TrySetResult();

        await client.DropConnectionForTestAsync();
        await back.Task.WaitAsync(ProviderFixture.Patience, Ct);

        Assert.True(device.IsConnected);
        var reply = await Provider.Commands.InvokeAsync(registration.Device.Id, new DeviceCommand { Name = "after-drop", Timeout = TimeSpan.FromSeconds(20) }, Ct);
        Assert.Equal(200, reply.Status);
        Assert.Equal("after-drop", reply.Payload?["did"]?.GetValue<string>());
    }

    [Fact]
    public async Task Dispose_cancels_a_running_command_handler_waits_for_it_and_delivers_its_reply()
    {
        var registration = await RegisterAsync();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var device = await ConnectAsync(registration, c => c.SetCommandHandler(async (_, ct) =>
        {
            entered.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                // The connection is shutting down: answer that, as a device app would.
            }
            // Some asynchronous wrap-up after the cancellation (closing a valve, say) before answering.
            await Task.Delay(200, CancellationToken.None);
            ended.TrySetResult();
            return new CommandResponse(503, new JsonObject { ["error"] = "shutting down" });
        }));

        var reply = Provider.Commands.InvokeAsync(registration.Device.Id, new DeviceCommand { Name = "long-job", Timeout = TimeSpan.FromSeconds(20) }, Ct);
        await entered.Task.WaitAsync(ProviderFixture.Patience, Ct);
        await device.DisposeAsync();

        Assert.True(ended.Task.IsCompleted, "DisposeAsync returned while the command handler was still running.");
        var answer = await reply;
        Assert.Equal(503, answer.Status);
        Assert.Equal("shutting down", answer.Payload?["error"]?.GetValue<string>());
    }

    [Fact]
    public async Task After_dispose_members_throw_ObjectDisposedException_and_a_second_dispose_does_nothing()
    {
        var registration = await RegisterAsync();
        var id = registration.Device.Id;
        var device = await ConnectAsync(registration);

        await device.DisposeAsync();
        await device.DisposeAsync();

        Assert.Equal(id, device.DeviceId);
        Assert.False(device.IsConnected);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => device.ConnectAsync(Ct));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => device.SendTelemetryAsync(new TelemetryRecord(id, "level", 1, DateTimeOffset.UtcNow), Ct).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => device.FlushAsync(Ct));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => device.ReportStateAsync(new JsonObject { ["battery"] = 80 }, Ct));
        Assert.Throws<ObjectDisposedException>(() => device.SetCommandHandler((_, _) => ValueTask.FromResult(new CommandResponse(200))));
        Assert.Throws<ObjectDisposedException>(() => device.SetDesiredStateHandler((_, _, _) => ValueTask.CompletedTask));
    }
}

/// <summary>Records a device accepted and never flushed are delivered when it disposes its connection (needs a fleet-side reader).</summary>
public abstract class DisposeDeliversTelemetryContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    private const int Records = 20;

    [Fact]
    public async Task Telemetry_accepted_before_dispose_is_delivered_without_a_flush()
    {
        Assert.True(Provider.Capabilities.TelemetryConsumption);
        var registration = await RegisterAsync();
        var id = registration.Device.Id;
        var device = await ConnectAsync(registration);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var stream = Provider.Telemetry.ReadAllAsync(stop.Token).GetAsyncEnumerator(stop.Token);
        // The first MoveNextAsync subscribes the reader; only records sent from then on reach it.
        var next = stream.MoveNextAsync().AsTask();
        var values = new List<double>();
        try
        {
            await Task.Delay(200, Ct);
            var start = DateTimeOffset.UtcNow;
            for (var i = 0; i < Records; i++)
                await device.SendTelemetryAsync(new TelemetryRecord(id, "level", i, start.AddMilliseconds(i)), Ct);
            await device.DisposeAsync();

            var deadline = DateTime.UtcNow + ProviderFixture.Patience;
            while (values.Count < Records && deadline > DateTime.UtcNow)
            {
                bool more;
                try
                {
                    more = await next.WaitAsync(deadline - DateTime.UtcNow, Ct);
                }
                catch (TimeoutException)
                {
                    break;
                }
                if (!more) break;
                if (stream.Current.DeviceId == id) values.Add(stream.Current.Value);
                next = stream.MoveNextAsync().AsTask();
            }
        }
        finally
        {
            await stop.CancelAsync();
            try { await next; } catch (OperationCanceledException) { /* the read we abandoned */ }
            await stream.DisposeAsync();
        }

        Assert.Equal(Enumerable.Range(0, Records).Select(i => (double)i), values.Order());
    }
}

/// <summary>A desired-state handler set after connecting receives the current desired state (where devices receive desired state offline).</summary>
public abstract class LateDesiredHandlerContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task A_desired_state_handler_set_after_connecting_receives_the_current_desired_state()
    {
        var registration = await RegisterAsync();
        var updated = await Provider.State.UpdateDesiredAsync(registration.Device.Id, new JsonObject { ["rate"] = 21 }, cancellationToken: Ct);
        var device = await ConnectAsync(registration);

        var seen = new TaskCompletionSource<(JsonObject Desired, long Version)>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.SetDesiredStateHandler((document, version, _) =>
        {
            if (document["rate"]?.GetValue<int>() == 21) seen.TrySetResult((document, version));
            return ValueTask.CompletedTask;
        });

        var change = await seen.Task.WaitAsync(ProviderFixture.Patience, Ct);
        Assert.Equal(updated.DesiredVersion, change.Version);
    }
}
