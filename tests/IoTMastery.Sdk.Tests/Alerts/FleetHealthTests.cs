using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Alerts;

public sealed class FleetHealthTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);

    private TelemetryRecord Reading(string device, string metric, double value) => new(device, metric, value, _time.GetUtcNow());

    private static DevicePresence Presence(string id, bool? connected) => new() { DeviceId = id, Connected = connected };

    [Fact]
    public void Counts_connectivity_firmware_and_each_rule_from_presence_and_the_monitor()
    {
        AlertRule[] rules =
        [
            AlertRule.Silence(TimeSpan.FromSeconds(30), cooldown: TimeSpan.Zero), AlertRule.Offline(TimeSpan.FromSeconds(60), cooldown: TimeSpan.Zero),
            AlertRule.Ewma("temp", 0.1, raiseAboveZ: 4, clearBelowZ: 2, warmUp: 10), AlertRule.RateOfChange("level", 5, 1),
            AlertRule.Threshold("hum", raiseAbove: 80, clearBelow: 70),
        ];
        var health = new AlertMonitor(rules, _time);
        string[] fleet = ["d1", "d2", "d3", "d4"];
        void Report(string device, double temp, double hum) => health.Process([Reading(device, "temp", temp), Reading(device, "hum", hum)]);

        foreach (var d in fleet) health.Observe(new DevicePresence { DeviceId = d, Connected = true, Since = Start });
        health.Observe(new DevicePresence { DeviceId = "d2", Connected = false, Since = Start, DisconnectReason = "CONNECTION_LOST" });
        // 40 s of steady readings; d4 falls silent after the first 5, d2 is disconnected and sends nothing.
        for (var s = 0; s < 40; s++)
        {
            foreach (var d in new[] { "d1", "d3" }) Report(d, 20 + (s % 2 == 0 ? 0.1 : -0.1), 50);
            if (s < 5) Report("d4", 20, 50);
            _time.Advance(TimeSpan.FromSeconds(1));
        }
        Report("d1", 35, 50); // d1 drifts
        Report("d3", 20, 95); // d3 is too humid
        _time.Advance(TimeSpan.FromSeconds(25)); // 65 s since d2 left
        foreach (var d in new[] { "d1", "d3" }) health.Process([Reading(d, "other", 20)]);
        Assert.Equal([("d2", "offline"), ("d4", "silence")], health.Evaluate().Select(a => (a.DeviceId, a.Rule.Name)).Order());

        var presence = new[] { Presence("d1", true), Presence("d2", false), Presence("d3", null), Presence("d4", true) };
        var firmware = new Dictionary<string, string> { ["d1"] = "1.2.0", ["d2"] = "1.2.0", ["d3"] = "1.3.0" };
        var summary = FleetHealthSummary.Create(presence, firmware, health, _time);

        Assert.Equal((_time.GetUtcNow(), 4, 2, 1, 1), (summary.At, summary.Devices, summary.Online, summary.Offline, summary.Unknown));
        Assert.Equal([new("1.2.0", 2), new("1.3.0", 1), new(FleetHealthSummary.UnknownVersion, 1)], summary.FirmwareVersions.ToArray());
        // In the monitor's order, each rule with the devices it fires for; the others of the four are ok.
        Assert.Equal(rules, summary.Firing.Keys);
        Assert.Equal(["d4", "d2", "d1", "", "d3"], summary.Firing.Values.Select(ids => string.Join(",", ids)));
        Assert.Equal(["d4"], summary.Firing[AlertRule.Silence(TimeSpan.FromSeconds(30), TimeSpan.Zero)]);
    }

    [Fact]
    public void Without_a_monitor_it_counts_connectivity_and_firmware_only_and_a_repeated_device_counts_once()
    {
        var summary = FleetHealthSummary.Create([Presence("a", true), Presence("b", null), Presence("a", false)], timeProvider: _time);
        Assert.Equal((2, 0, 1, 1), (summary.Devices, summary.Online, summary.Offline, summary.Unknown));
        Assert.Equal(2, summary.FirmwareVersions[FleetHealthSummary.UnknownVersion]);
        Assert.Empty(summary.Firing);
    }

    [Fact]
    public void A_presence_entry_without_a_device_id_is_refused()
    {
        Assert.Throws<ArgumentNullException>(() => FleetHealthSummary.Create(null!));
        Assert.Throws<ArgumentException>(() => FleetHealthSummary.Create([Presence("a", true), null!]));
    }
}
