using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Tests.DeviceSide;

public class DeviceHandlerSlotsTests
{
    private static DesiredStateChange Change(long version) => new(new JsonObject { ["v"] = version }, version);

    private static ValueTask Ignore(JsonObject desired, long version, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    [Fact]
    public void ValidateRecord_rejects_default_and_foreign_records_and_accepts_own()
    {
        var uninitialized = Assert.Throws<ArgumentException>(() => DeviceHandlerSlots.ValidateRecord(default, "dev-1"));
        Assert.Equal("record", uninitialized.ParamName);
        var foreign = Assert.Throws<ArgumentException>(() => DeviceHandlerSlots.ValidateRecord(new TelemetryRecord("dev-2", "t", 1, DateTimeOffset.UnixEpoch), "dev-1"));
        Assert.Contains("'dev-2'", foreign.Message);
        // Device ids compare ordinally: a case difference is another device.
        Assert.Throws<ArgumentException>(() => DeviceHandlerSlots.ValidateRecord(new TelemetryRecord("DEV-1", "t", 1, DateTimeOffset.UnixEpoch), "dev-1"));
        DeviceHandlerSlots.ValidateRecord(new TelemetryRecord("dev-1", "t", 1, DateTimeOffset.UnixEpoch), "dev-1");
    }

    [Fact]
    public async Task RunCommand_answers_501_without_handler_400_on_bad_json_500_on_failure_and_nothing_when_cancelled()
    {
        var slots = new DeviceHandlerSlots();
        Assert.Throws<ArgumentNullException>(() => slots.SetCommandHandler(null!));
        var none = await slots.RunCommandAsync("reboot", Encoding.UTF8.GetBytes("{}"), "not json", NullLogger.Instance, CancellationToken.None);
        Assert.Equal(501, none!.Status);

        slots.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, command.Payload!.DeepClone())));
        var ok = await slots.RunCommandAsync("echo", Encoding.UTF8.GetBytes("{\"a\":1}"), "not json", NullLogger.Instance, CancellationToken.None);
        Assert.Equal(200, ok!.Status);
        Assert.Equal(1, (int)ok.Payload!["a"]!);

        var bad = await slots.RunCommandAsync("echo", Encoding.UTF8.GetBytes("{oops"), "the payload is not JSON", NullLogger.Instance, CancellationToken.None);
        Assert.Equal(400, bad!.Status);
        Assert.Equal("the payload is not JSON", (string?)bad.Payload!["error"]);

        slots.SetCommandHandler((_, _) => throw new InvalidOperationException("secret detail"));
        var failed = await slots.RunCommandAsync("boom", ReadOnlyMemory<byte>.Empty, "not json", NullLogger.Instance, CancellationToken.None);
        Assert.Equal(500, failed!.Status);
        Assert.DoesNotContain("secret", failed.Payload!.ToJsonString());

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        slots.SetCommandHandler((_, ct) => { ct.ThrowIfCancellationRequested(); return ValueTask.FromResult(new CommandResponse(200, null)); });
        Assert.Null(await slots.RunCommandAsync("slow", ReadOnlyMemory<byte>.Empty, "not json", NullLogger.Instance, cancelled.Token));
    }

    [Fact]
    public void Desired_state_never_goes_back_and_is_delivered_once_per_version()
    {
        var slots = new DeviceHandlerSlots();
        Assert.True(slots.OfferNewerDesired(Change(3)));
        Assert.False(slots.OfferNewerDesired(Change(3)));
        Assert.False(slots.OfferNewerDesired(Change(2)));
        // No handler yet: nothing is claimed, and the stored change is handed back for replay when one is set.
        Assert.False(slots.TryBeginDelivery(Change(3), out _));
        var pending = slots.SetDesiredStateHandler(Ignore);
        Assert.Equal(3, pending!.Version);
        Assert.True(slots.TryBeginDelivery(pending, out var handler));
        Assert.NotNull(handler);
        Assert.False(slots.TryBeginDelivery(pending, out _));
        Assert.False(slots.TryBeginDelivery(Change(1), out _));
        Assert.True(slots.TryBeginDelivery(Change(4), out _));
    }

    [Fact]
    public void Replace_keeps_the_newest_arrival_but_latest_delivery_still_never_goes_back()
    {
        var slots = new DeviceHandlerSlots();
        Assert.Throws<ArgumentNullException>(() => slots.SetDesiredStateHandler(null!));
        Assert.Null(slots.SetDesiredStateHandler(Ignore));
        Assert.False(slots.TryBeginLatestDelivery(out _, out _));
        slots.ReplaceDesired(Change(5));
        Assert.True(slots.TryBeginLatestDelivery(out _, out var latest));
        Assert.Equal(5, latest!.Version);
        Assert.False(slots.TryBeginLatestDelivery(out _, out _));
        slots.ReplaceDesired(Change(2));
        Assert.False(slots.TryBeginLatestDelivery(out _, out _));
        slots.ReplaceDesired(Change(6));
        Assert.True(slots.TryBeginLatestDelivery(out _, out latest));
        Assert.Equal(6, latest!.Version);
    }
}
