using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Alerts;

public sealed class HealthRuleTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);

    private AlertMonitor Monitor(TimeSpan? silence = null, TimeSpan? offline = null, TimeSpan? cooldown = null) =>
        new(Rules(silence, offline, cooldown), _time);

    private static List<AlertRule> Rules(TimeSpan? silence, TimeSpan? offline, TimeSpan? cooldown)
    {
        var rules = new List<AlertRule>();
        if (silence is { } s) rules.Add(AlertRule.Silence(s, cooldown ?? TimeSpan.Zero));
        if (offline is { } o) rules.Add(AlertRule.Offline(o, cooldown ?? TimeSpan.Zero));
        return rules;
    }

    private TelemetryRecord Record(string device) => new(device, "t", 1, _time.GetUtcNow());

    [Fact]
    public void Silence_is_raised_once_after_N_seconds_without_a_record_and_cleared_by_the_next_record()
    {
        var monitor = Monitor(silence: TimeSpan.FromSeconds(30));
        monitor.One(Record("d1"));
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Empty(monitor.Evaluate()); // exactly N is not yet "longer than N"
        _time.Advance(TimeSpan.FromSeconds(1));
        var raised = Assert.Single(monitor.Evaluate());
        Assert.Equal((false, "d1", "silence"), (raised.Cleared, raised.DeviceId, raised.Rule.Name));
        Assert.Equal(TimeSpan.FromSeconds(31), raised.Duration);
        // Per-device de-duplication: still silent, nothing new.
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Empty(monitor.Evaluate());
        Assert.True(monitor.IsRaised("d1", raised.Rule));

        var cleared = monitor.One(Record("d1"));
        Assert.True(cleared!.Cleared);
        Assert.False(monitor.IsRaised("d1", raised.Rule));
    }

    [Fact]
    public void A_device_never_heard_from_is_not_expected_until_told()
    {
        var monitor = Monitor(silence: TimeSpan.FromSeconds(10));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(monitor.Evaluate());
        monitor.Expect("quiet");
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal("quiet", Assert.Single(monitor.Evaluate()).DeviceId);
        monitor.Forget("quiet");
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(monitor.Evaluate());
    }

    [Fact]
    public void Offline_longer_than_N_is_raised_once_and_cleared_on_reconnect_and_replaces_silence()
    {
        var monitor = Monitor(silence: TimeSpan.FromSeconds(10), offline: TimeSpan.FromSeconds(60));
        monitor.One(Record("d1"));
        monitor.Observe(new DevicePresence { DeviceId = "d1", Connected = false, Since = _time.GetUtcNow(), DisconnectReason = "CONNECTION_LOST" });
        _time.Advance(TimeSpan.FromSeconds(59));
        // Silent, but known disconnected: the offline rule speaks for it, not the silence rule.
        Assert.Empty(monitor.Evaluate());
        _time.Advance(TimeSpan.FromSeconds(2));
        var raised = Assert.Single(monitor.Evaluate());
        Assert.Equal((false, "offline"), (raised.Cleared, raised.Rule.Name));
        Assert.Equal((TimeSpan?)TimeSpan.FromSeconds(61), raised.Duration);
        Assert.Null(raised.Metric);
        Assert.True(monitor.IsRaised("d1", raised.Rule));
        Assert.Equal(AlertRule.Offline(TimeSpan.FromSeconds(60), cooldown: TimeSpan.Zero), raised.Rule); // the rule that fired, limits and all
        // The monitor runs no metric rule and no other offline rule, so none reads as raised.
        Assert.False(monitor.IsRaised("d1", AlertRule.Threshold("t", 1, 0)) || monitor.IsRaised("d1", AlertRule.Ewma("t", 0.1, 3, 1, 5))
            || monitor.IsRaised("d1", AlertRule.Offline(TimeSpan.FromSeconds(30), cooldown: TimeSpan.Zero)));
        Assert.Empty(monitor.Evaluate());

        var cleared = monitor.Observe(new DevicePresence { DeviceId = "d1", Connected = true, Since = _time.GetUtcNow() });
        Assert.Equal((true, "offline"), (cleared!.Cleared, cleared.Rule.Name));
    }

    [Fact]
    public void Cooldown_holds_back_a_new_raise_after_a_clear_so_a_flapping_device_does_not_page_every_time()
    {
        var monitor = Monitor(offline: TimeSpan.FromSeconds(10), cooldown: TimeSpan.FromMinutes(5));
        void Drop() => monitor.Observe(new DevicePresence { DeviceId = "d1", Connected = false, Since = _time.GetUtcNow() });
        void Back() => monitor.Observe(new DevicePresence { DeviceId = "d1", Connected = true, Since = _time.GetUtcNow() });

        Drop();
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Single(monitor.Evaluate());
        Back();
        Drop();
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Empty(monitor.Evaluate()); // within the cooldown
        _time.Advance(TimeSpan.FromMinutes(5));
        var again = Assert.Single(monitor.Evaluate()); // still offline once the cooldown is over: raised then
        Assert.False(again.Cleared);
    }

    [Fact]
    public void Presence_snapshots_feed_the_offline_rule_from_the_time_the_provider_says()
    {
        var monitor = Monitor(offline: TimeSpan.FromMinutes(1));
        monitor.Observe(new DevicePresence { DeviceId = "d1", Connected = false, Since = Start - TimeSpan.FromMinutes(2) });
        var raised = Assert.Single(monitor.Evaluate());
        Assert.Equal(TimeSpan.FromMinutes(2), raised.Duration);
        // Unknown connectivity (GCP-style) never counts as offline.
        monitor.Observe(new DevicePresence { DeviceId = "d2", Connected = null });
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Empty(monitor.Evaluate());
    }

    [Fact]
    public async Task Alerts_reach_the_in_process_stream_in_order()
    {
        var monitor = Monitor(silence: TimeSpan.FromSeconds(5));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var stream = monitor.ReadAlertsAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var first = stream.MoveNextAsync().AsTask();
        monitor.One(Record("d1"));
        _time.Advance(TimeSpan.FromSeconds(6));
        monitor.Evaluate();
        monitor.One(Record("d1"));
        Assert.True(await first);
        Assert.False(stream.Current.Cleared);
        Assert.True(await stream.MoveNextAsync());
        Assert.True(stream.Current.Cleared);
        Assert.Equal(0, monitor.DroppedAlertCount);
    }

    [Fact]
    public async Task RunAsync_evaluates_on_the_injected_clock()
    {
        var monitor = Monitor(silence: TimeSpan.FromSeconds(5));
        monitor.One(Record("d1"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var stream = monitor.ReadAlertsAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var next = stream.MoveNextAsync().AsTask();
        var run = monitor.RunAsync(TimeSpan.FromSeconds(1), cts.Token);
        // Advancing the fake clock fires the timer; no wall-clock wait is involved.
        for (var i = 0; i < 7 && !next.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Yield();
        }
        Assert.True(await next.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("silence", stream.Current.Rule.Name);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [Fact]
    public void Bad_rules_and_inputs_are_refused_with_the_rule_named()
    {
        Assert.Contains("silentFor", Assert.Throws<ArgumentOutOfRangeException>(() => AlertRule.Silence(TimeSpan.Zero)).Message);
        Assert.Contains("offlineFor", Assert.Throws<ArgumentOutOfRangeException>(() => AlertRule.Offline(TimeSpan.FromSeconds(-1))).Message);
        Assert.Contains("cooldown", Assert.Throws<ArgumentOutOfRangeException>(() => AlertRule.Silence(TimeSpan.FromSeconds(1), cooldown: TimeSpan.FromSeconds(-1))).Message);
        Assert.Equal(TimeSpan.FromMinutes(5), AlertRule.Offline(TimeSpan.FromSeconds(1)).Cooldown); // the default
        Assert.Throws<ArgumentException>(() => Monitor());
        Assert.Throws<ArgumentException>(() => new AlertMonitor([AlertRule.Silence(TimeSpan.FromSeconds(1)), AlertRule.Silence(TimeSpan.FromSeconds(2))]));
        var monitor = Monitor(silence: TimeSpan.FromSeconds(1));
        Assert.Throws<ArgumentException>(() => monitor.Process([default]));
        Assert.Throws<ArgumentException>(() => monitor.Expect(""));
        // Refused when called, not when the returned task is awaited.
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = monitor.RunAsync(TimeSpan.Zero, CancellationToken.None); });
    }

    [Fact]
    public void Observing_a_record_of_a_known_device_allocates_nothing()
    {
        var monitor = Monitor(silence: TimeSpan.FromSeconds(30));
        var records = Enumerable.Range(0, 100).Select(i => new TelemetryRecord("d" + i, "t", i, Start)).ToArray();
        foreach (var r in records) monitor.Process([r]);
        var bytes = Allocations.SteadyStateBytes(_ =>
        {
            for (var round = 0; round < 1_000; round++)
                foreach (var r in records) monitor.Process([r]);
        });
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void A_batch_counts_as_observed_at_one_instant_and_clears_the_silence_of_each_device_once()
    {
        var monitor = Monitor(silence: TimeSpan.FromSeconds(30));
        monitor.Process([Record("d1"), Record("d2"), Record("d3")]);
        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(["d1", "d2", "d3"], monitor.Evaluate().Select(a => a.DeviceId).Order());
        _time.Advance(TimeSpan.FromSeconds(4));
        var cleared = new List<Alert>();
        Assert.Equal(2, monitor.Process([Record("d2"), Record("d1"), Record("d2")], cleared));
        Assert.Equal([("d2", true, TimeSpan.FromSeconds(35)), ("d1", true, TimeSpan.FromSeconds(35))],
            cleared.Select(a => (a.DeviceId, a.Cleared, a.Duration)));
        Assert.True(monitor.IsRaised("d3", AlertRule.Silence(TimeSpan.FromSeconds(30), cooldown: TimeSpan.Zero)));
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Empty(monitor.Evaluate()); // d1 and d2 were stamped at the batch's instant: exactly 30 s is not longer than 30 s
        Assert.Equal(0, monitor.Process(ReadOnlySpan<TelemetryRecord>.Empty));
    }

    [Fact]
    public void A_batch_with_an_uninitialized_record_is_refused_whole()
    {
        var monitor = Monitor(silence: TimeSpan.FromSeconds(30));
        Assert.Throws<ArgumentException>(() => monitor.Process([Record("d1"), default]));
        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Empty(monitor.Evaluate()); // d1 was not applied, so it is not expected
    }

    [Fact]
    public void Observing_a_batch_of_known_devices_allocates_nothing()
    {
        var monitor = Monitor(silence: TimeSpan.FromSeconds(30));
        var records = Enumerable.Range(0, 512).Select(i => new TelemetryRecord("d" + (i % 100), "t", i, Start)).ToArray();
        monitor.Process(records);
        var bytes = Allocations.SteadyStateBytes(_ =>
        {
            for (var round = 0; round < 1_000; round++) monitor.Process(records);
        });
        Assert.Equal(0, bytes);
    }
}
