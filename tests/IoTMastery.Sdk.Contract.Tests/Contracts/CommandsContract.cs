using IoTMastery.Sdk.TestSupport;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>Commands reach the device handler with their payload, and its reply (or its silence) comes back the same way everywhere.</summary>
public abstract class CommandsContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task A_command_reaches_the_handler_and_its_reply_comes_back()
    {
        Assert.True(Provider.Capabilities.Commands);
        var registration = await RegisterAsync();
        await ConnectAsync(registration, c => c.SetCommandHandler((command, _) => ValueTask.FromResult(
            new CommandResponse(200, new JsonObject { ["did"] = command.Name, ["echo"] = command.Payload?["n"]?.GetValue<int>() }))));

        var reply = await Provider.Commands.InvokeAsync(registration.Device.Id,
            new DeviceCommand { Name = "reboot", Payload = new JsonObject { ["n"] = 7 }, Timeout = TimeSpan.FromSeconds(20) }, Ct);

        Assert.Equal(200, reply.Status);
        Assert.True(reply.IsSuccess);
        Assert.Equal("reboot", reply.Payload?["did"]?.GetValue<string>());
        Assert.Equal(7, reply.Payload?["echo"]?.GetValue<int>());
    }

    [Fact]
    public async Task A_refusing_handler_status_is_returned_not_thrown()
    {
        var registration = await RegisterAsync();
        await ConnectAsync(registration, c => c.SetCommandHandler((_, _) => ValueTask.FromResult(new CommandResponse(409))));

        var reply = await Provider.Commands.InvokeAsync(registration.Device.Id, new DeviceCommand { Name = "open-valve", Timeout = TimeSpan.FromSeconds(20) }, Ct);

        Assert.Equal(409, reply.Status);
        Assert.False(reply.IsSuccess);
    }

    [Fact]
    public async Task A_handler_that_never_answers_is_a_CommandTimeoutException()
    {
        var registration = await RegisterAsync();
        var released = new TaskCompletionSource();
        await ConnectAsync(registration, c => c.SetCommandHandler(async (_, ct) =>
        {
            // Hold the reply past the fleet side's timeout; released when the test ends so the device shuts down cleanly.
            await released.Task.WaitAsync(ct);
            return new CommandResponse(200);
        }));
        try
        {
            var timeout = await IoTAssert.ThrowsAsync(IoTErrorKind.CommandTimeout, () => Provider.Commands.InvokeAsync(registration.Device.Id,
                new DeviceCommand { Name = "slow", Timeout = Provider.Capabilities.MinCommandTimeout }, Ct));
            Assert.Equal(registration.Device.Id, timeout.DeviceId);
            Assert.Contains("'slow'", timeout.Message, StringComparison.Ordinal);
        }
        finally
        {
            released.TrySetResult();
        }
    }

    [Fact]
    public async Task A_timeout_below_the_providers_floor_is_an_ArgumentOutOfRangeException()
    {
        var floor = Provider.Capabilities.MinCommandTimeout;
        Assert.InRange(floor, DeviceCommand.MinTimeout, DeviceCommand.MaxTimeout);
        var id = (await RegisterAsync()).Device.Id;
        // Below the neutral 1 s rule on every provider, and just below a cloud's own higher floor where it has one.
        foreach (var tooShort in new[] { TimeSpan.FromMilliseconds(999), floor - TimeSpan.FromMilliseconds(1) })
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Provider.Commands.InvokeAsync(id, new DeviceCommand { Name = "reboot", Timeout = tooShort }, Ct));
    }
}

/// <summary>
/// A command to a registered device that is not connected fails at once with <see cref="IoTErrorKind.DeviceOffline"/>; where
/// <see cref="ProviderCapabilities.CommandsDetectOfflineDevices"/> is false it must end in <see cref="IoTErrorKind.CommandTimeout"/>
/// after its timeout instead (never a hang, never a reply).
/// </summary>
public abstract class OfflineCommandContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task A_command_to_a_device_that_is_not_connected_is_refused_as_the_capability_says()
    {
        var id = (await RegisterAsync()).Device.Id;

        if (!Provider.Capabilities.CommandsDetectOfflineDevices)
        {
            var timeout = await IoTAssert.ThrowsAsync(IoTErrorKind.CommandTimeout, () => Provider.Commands.InvokeAsync(id,
                new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(1) }, Ct));
            Assert.Equal(id, timeout.DeviceId);
            return;
        }

        var offline = await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceOffline, () => Provider.Commands.InvokeAsync(id,
            new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(20) }, Ct));
        Assert.Equal(id, offline.DeviceId);
        Assert.True(offline.IsTransient);
    }
}
