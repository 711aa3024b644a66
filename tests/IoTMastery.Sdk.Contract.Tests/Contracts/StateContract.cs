using IoTMastery.Sdk.TestSupport;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>Desired state is versioned and guarded the same way on every provider (fleet side only).</summary>
public abstract class StateVersionContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task Desired_updates_raise_the_version_and_a_stale_version_is_PreconditionFailed()
    {
        Assert.True(Provider.Capabilities.DeviceState);
        var id = (await RegisterAsync()).Device.Id;

        var first = await Provider.State.UpdateDesiredAsync(id, new JsonObject { ["rate"] = 5 }, cancellationToken: Ct);
        var second = await Provider.State.UpdateDesiredAsync(id, new JsonObject { ["mode"] = "eco" }, first.DesiredVersion, Ct);
        Assert.True(second.DesiredVersion > first.DesiredVersion, $"version {second.DesiredVersion} after {first.DesiredVersion}");

        var stale = await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () =>
            Provider.State.UpdateDesiredAsync(id, new JsonObject { ["rate"] = 99 }, first.DesiredVersion, Ct));
        Assert.Equal(second.DesiredVersion, stale.CurrentVersion ?? second.DesiredVersion);

        var read = await Provider.State.GetAsync(id, Ct);
        Assert.Equal(5, read.Desired["rate"]?.GetValue<int>());
        Assert.Equal("eco", read.Desired["mode"]?.GetValue<string>());
        Assert.Equal(second.DesiredVersion, read.DesiredVersion);
    }
}

/// <summary>Desired state reaches the device's handler, and what the device reports reaches the fleet side.</summary>
public abstract class StateDeliveryContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task Desired_state_reaches_the_device_handler()
    {
        var registration = await RegisterAsync();
        var seen = new TaskCompletionSource<(JsonObject Desired, long Version)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await ConnectAsync(registration, c => c.SetDesiredStateHandler((document, version, _) =>
        {
            if (document["rate"]?.GetValue<int>() == 12) seen.TrySetResult((document, version));
            return ValueTask.CompletedTask;
        }));

        var updated = await Provider.State.UpdateDesiredAsync(registration.Device.Id, new JsonObject { ["rate"] = 12 }, cancellationToken: Ct);

        var change = await seen.Task.WaitAsync(ProviderFixture.Patience, Ct);
        Assert.Equal(12, change.Desired["rate"]?.GetValue<int>());
        Assert.Equal(updated.DesiredVersion, change.Version);
    }

    [Fact]
    public async Task Reported_state_reaches_the_fleet()
    {
        var registration = await RegisterAsync();
        var device = await ConnectAsync(registration);

        await device.ReportStateAsync(new JsonObject { ["firmware"] = "1.4.2", ["battery"] = 87 }, Ct);

        var state = await EventuallyAsync(() => Provider.State.GetAsync(registration.Device.Id, Ct),
            s => s.Reported["firmware"] is not null, "the reported firmware to reach the fleet side");
        Assert.Equal("1.4.2", state.Reported["firmware"]?.GetValue<string>());
        Assert.Equal(87, state.Reported["battery"]?.GetValue<int>());
        Assert.True(state.ReportedVersion > 0);
    }
}
