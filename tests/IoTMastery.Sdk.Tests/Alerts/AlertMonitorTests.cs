using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Alerts;

public sealed class AlertMonitorTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly string[] Devices = Enumerable.Range(0, 8).Select(i => "dev-" + i).ToArray();
    private static readonly string[] Metrics = ["temp", "hum", "vib", "other"];
    private readonly FakeTimeProvider _time = new(Start);

    private static readonly AlertRule HumThreshold = AlertRule.Threshold("hum", 60, 50);

    /// <summary>Every kind of rule; "vib" has both an anomaly and a threshold rule.</summary>
    private static readonly AlertRule[] AllRules =
    [
        AlertRule.Silence(TimeSpan.FromSeconds(10), cooldown: TimeSpan.FromSeconds(15)),
        AlertRule.Offline(TimeSpan.FromSeconds(20), cooldown: TimeSpan.FromSeconds(15)),
        AlertRule.RateOfChange("temp", 2, 0.5),
        AlertRule.Ewma("vib", 0.2, 3, 1, 5),
        HumThreshold,
        AlertRule.Threshold("vib", 8, 6),
    ];

    [Fact]
    public void Gives_the_same_transitions_and_states_as_an_independent_reference_whether_fed_batches_or_single_records()
    {
        var random = new Random(1507);
        var batched = new AlertMonitor(AllRules, _time);
        var single = new AlertMonitor(AllRules, _time);
        var reference = new ReferenceMonitor(AllRules, _time);
        List<Alert> batchedAlerts = [], singleAlerts = [], referenceAlerts = [];
        foreach (var id in Devices) { batched.Expect(id); single.Expect(id); reference.Expect(id); }

        for (var step = 0; step < 400; step++)
        {
            var batch = RandomBatch(random, step);
            referenceAlerts.AddRange(reference.Process(batch));
            var batchAlerts = new List<Alert>();
            var count = batched.Process(batch, batchAlerts);
            Assert.Equal(batchAlerts.Count, count);
            batchedAlerts.AddRange(batchAlerts);
            foreach (var record in batch) single.Process([record], singleAlerts);

            _time.Advance(TimeSpan.FromSeconds(random.Next(0, 6)));
            if (step % 5 == 0)
            {
                referenceAlerts.AddRange(reference.Evaluate());
                batchedAlerts.AddRange(batched.Evaluate());
                singleAlerts.AddRange(single.Evaluate());
            }
            if (step % 37 == 36)
            {
                // Forgetting drops the device's state; the monitor's cache by object identity must not keep the old entry.
                var id = Devices[random.Next(Devices.Length)];
                reference.Forget(id);
                batched.Forget(id);
                single.Forget(id);
            }
            if (step % 23 == 22)
            {
                var presence = new DevicePresence { DeviceId = Devices[random.Next(Devices.Length)], Connected = random.Next(2) == 0, Since = _time.GetUtcNow() };
                if (reference.Observe(presence) is { } r) referenceAlerts.Add(r);
                if (batched.Observe(presence) is { } b) batchedAlerts.Add(b);
                if (single.Observe(presence) is { } s) singleAlerts.Add(s);
            }
        }

        // Not vacuous: the stream raised and cleared every kind of rule.
        Assert.Contains(referenceAlerts, a => a is { Rule.Name: "silence", Cleared: true });
        Assert.Contains(referenceAlerts, a => a is { Rule.Name: "offline", Cleared: false });
        Assert.Contains(referenceAlerts, a => a is { Rule.Name: "rateOfChange", Cleared: true });
        Assert.Contains(referenceAlerts, a => a is { Rule.Name: "anomaly", Cleared: false });
        Assert.Contains(referenceAlerts, a => a is { Rule.Name: "threshold", Metric: "vib", Cleared: true });
        Assert.Contains(referenceAlerts, a => a is { Rule.Name: "threshold", Metric: "hum", Cleared: true });

        // The same transitions in the same order: per record silence, then threshold, then rate or anomaly.
        Assert.Equal(WithoutIds(referenceAlerts), WithoutIds(batchedAlerts));
        Assert.Equal(WithoutIds(referenceAlerts), WithoutIds(singleAlerts));
        // Every transition has its own id (the webhook's idempotency key).
        var all = batchedAlerts.Concat(singleAlerts).ToList();
        Assert.Equal(all.Count, all.Select(a => a.Id).Distinct().Count());
        foreach (var id in Devices)
            foreach (var rule in AllRules)
            {
                var expected = reference.IsRaised(id, rule);
                Assert.Equal((id, rule.Name, rule.Metric, expected), (id, rule.Name, rule.Metric, batched.IsRaised(id, rule)));
                Assert.Equal((id, rule.Name, rule.Metric, expected), (id, rule.Name, rule.Metric, single.IsRaised(id, rule)));
            }
        var presenceList = Devices.Select(id => new DevicePresence { DeviceId = id, Connected = true }).ToList();
        var summary = FleetHealthSummary.Create(presenceList, null, batched, _time);
        Assert.Equal(AllRules, summary.Firing.Keys);
        Assert.Equal(AllRules.Select(rule => string.Join(',', Devices.Where(id => reference.IsRaised(id, rule)))),
            summary.Firing.Values.Select(ids => string.Join(',', ids)));
    }

    /// <summary>The alerts with their ids blanked: two monitors give the same transition different ids.</summary>
    private static List<Alert> WithoutIds(List<Alert> alerts) => alerts.Select(a => a with { Id = Guid.Empty }).ToList();

    private TelemetryRecord[] RandomBatch(Random random, int step)
    {
        // Devices 6 and 7 report only now and then, so they go silent and come back.
        var reporting = step % 12 < 2 ? Devices.Length : Devices.Length - 2;
        var batch = new TelemetryRecord[random.Next(1, 40)];
        for (var i = 0; i < batch.Length; i++)
        {
            var id = Devices[random.Next(reporting)];
            // Half the ids are copies: a decoder gives each message its own string, so the shortcut for "the previous
            // record's device" (by reference) must not be the only way a device is found.
            if (random.Next(2) == 0) id = new string(id.AsSpan());
            var metric = Metrics[random.Next(Metrics.Length)];
            var value = metric switch
            {
                "hum" => random.Next(40, 70),
                "vib" => random.Next(10) == 0 ? 9 + random.NextDouble() * 5 : 5 + random.NextDouble(),
                _ => 20 + random.Next(10) * (random.Next(8) == 0 ? 3 : 0.1),
            };
            // Readings' own times move forward, with some repeated or late ones that the rate rule must ignore.
            var at = _time.GetUtcNow().AddMilliseconds(i * 100 - (random.Next(10) == 0 ? 5_000 : 0));
            batch[i] = new TelemetryRecord(id, metric, value, at);
        }
        return batch;
    }

    [Fact]
    public void A_batch_with_an_uninitialized_record_is_refused_whole()
    {
        var monitor = new AlertMonitor(AllRules, _time);
        Assert.Throws<ArgumentException>(() => monitor.Process([new TelemetryRecord("d1", "hum", 99, Start), default]));
        Assert.False(monitor.IsRaised("d1", HumThreshold));
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Empty(monitor.Evaluate()); // d1 was not applied, so it is not expected
        Assert.Equal(0, monitor.Process([]));
    }

    [Fact]
    public void Works_with_any_subset_of_the_rule_kinds()
    {
        var onlyThresholds = new AlertMonitor([AlertRule.Threshold("hum", 60, 50)]);
        var alerts = new List<Alert>();
        Assert.Equal(1, onlyThresholds.Process([new TelemetryRecord("d1", "hum", 61, Start), new TelemetryRecord("d1", "temp", 99, Start)], alerts));
        Assert.Equal((false, HumThreshold, "d1", (double?)61.0), (alerts[0].Cleared, alerts[0].Rule, alerts[0].DeviceId, alerts[0].Value));
        // An equal rule (rules are values) asks about the same alert; one with other limits is not run by the monitor.
        Assert.True(onlyThresholds.IsRaised("d1", AlertRule.Threshold("hum", 60, 50)));
        Assert.False(onlyThresholds.IsRaised("d1", AlertRule.Threshold("hum", 55, 50)));
        Assert.Empty(onlyThresholds.Evaluate()); // no health rule: nothing is judged by the clock

        var onlyHealth = new AlertMonitor([AlertRule.Silence(TimeSpan.FromSeconds(10), cooldown: TimeSpan.Zero)], _time);
        onlyHealth.Process([new TelemetryRecord("d1", "x", 1, Start)]);
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Single(onlyHealth.Evaluate());
        var cleared = new List<Alert>();
        Assert.Equal(1, onlyHealth.Process([new TelemetryRecord("d1", "x", 1, Start)], cleared));
        Assert.Equal((true, "silence", (TimeSpan?)TimeSpan.FromSeconds(11)), (cleared[0].Cleared, cleared[0].Rule.Name, cleared[0].Duration));
    }

    [Fact]
    public void Forgetting_a_device_drops_its_state_for_every_rule()
    {
        var monitor = new AlertMonitor(AllRules, _time);
        Assert.Equal(1, monitor.Process([new TelemetryRecord("d1", "hum", 61, Start)]));
        monitor.Forget("d1");
        Assert.False(monitor.IsRaised("d1", HumThreshold));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(monitor.Evaluate()); // no longer expected, so never silent
        // Reporting again, it starts afresh: the same reading raises again.
        var alerts = new List<Alert>();
        Assert.Equal(1, monitor.Process([new TelemetryRecord("d1", "hum", 61, Start)], alerts));
        Assert.Equal((false, "threshold"), (alerts[0].Cleared, alerts[0].Rule.Name));
        monitor.Forget("never-seen"); // nothing to drop: no error
    }

    [Fact]
    public async Task Every_rule_kind_reaches_the_stream_in_the_order_it_happened()
    {
        var monitor = new AlertMonitor(AllRules, _time);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var reader = monitor.ReadAlertsAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var next = reader.MoveNextAsync().AsTask(); // subscribes
        monitor.Expect("d1");
        _time.Advance(TimeSpan.FromSeconds(11));
        monitor.Evaluate();
        Assert.True(await next);
        Assert.Equal((false, "silence"), (reader.Current.Cleared, reader.Current.Rule.Name));
        // One record clears the silence and raises the humidity threshold: both are streamed, silence first.
        monitor.Process([new TelemetryRecord("d1", "hum", 61, _time.GetUtcNow())]);
        Assert.True(await reader.MoveNextAsync());
        Assert.Equal((true, "d1", "silence"), (reader.Current.Cleared, reader.Current.DeviceId, reader.Current.Rule.Name));
        Assert.True(await reader.MoveNextAsync());
        Assert.Equal((false, "d1", "threshold", "hum"), (reader.Current.Cleared, reader.Current.DeviceId, reader.Current.Rule.Name, reader.Current.Metric));
        Assert.Equal(0, monitor.DroppedAlertCount);
    }

    [Fact]
    public void Processing_batches_of_known_devices_allocates_nothing()
    {
        var monitor = new AlertMonitor(AllRules, _time);
        const int PerPass = 512, Passes = 5;
        // Values inside every rule's limits and readings' times moving forward, as a quiet live stream's would.
        var records = Enumerable.Range(0, PerPass * (Passes + 2))
            .Select(i => new TelemetryRecord("d" + (i / 4 % 100), Metrics[i % 4], 5, Start.AddSeconds(i)))
            .ToArray();
        monitor.Process(records.AsSpan(0, PerPass)); // every device and metric is known from here on
        var alerts = new List<Alert>(); // a reused collection, as a caller would keep one
        var bytes = Allocations.SteadyStateBytes(pass =>
            monitor.Process(records.AsSpan((pass + 1) * PerPass, PerPass), alerts), Passes);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public async Task Batches_single_records_and_forgetting_on_other_threads_neither_deadlock_nor_lose_a_transition()
    {
        // Different devices per thread, so each device's final state is known whatever the interleaving; Forget clears the
        // monitor's cache by object identity under the other thread's feet.
        var monitor = new AlertMonitor(AllRules, _time);
        const int Rounds = 2_000;
        TelemetryRecord Hum(string device, int round) => new(device, "hum", round % 2 == 0 ? 61 : 49, Start.AddSeconds(round));
        var viaBatches = Task.Run(() =>
        {
            var transitions = 0;
            for (var round = 0; round < Rounds; round++) transitions += monitor.Process([Hum("c1", round), Hum("c2", round)]);
            return transitions;
        });
        var viaSingles = Task.Run(() =>
        {
            var transitions = 0;
            for (var round = 0; round < Rounds; round++)
            {
                transitions += monitor.Process([Hum("e1", round)]);
                monitor.Forget("gone");
                monitor.Expect("gone");
            }
            return transitions;
        });
        var counts = await Task.WhenAll(viaBatches, viaSingles).WaitAsync(TimeSpan.FromMinutes(2));
        // Every round flips each device's hum alert: raised at 61, cleared at 49.
        Assert.Equal((2 * Rounds, Rounds), (counts[0], counts[1]));
        Assert.False(monitor.IsRaised("c1", HumThreshold) || monitor.IsRaised("c2", HumThreshold) || monitor.IsRaised("e1", HumThreshold));
    }

    /// <summary>
    /// The rules written the obvious way, for comparison: one object per device and one per (device, rule), found by
    /// dictionary lookups, the rule found by a linear search, the clock read per batch. No code shared with the SDK's monitor.
    /// </summary>
    private sealed class ReferenceMonitor(IReadOnlyList<AlertRule> rules, TimeProvider time)
    {
        private readonly Dictionary<string, DeviceState> _devices = [];

        private sealed class DeviceState
        {
            public DateTimeOffset LastRecord, ConnectionChangedAt;
            public bool? Connected;
            public readonly Dictionary<AlertRule, RuleState> Rules = [];
        }

        private sealed class RuleState
        {
            public bool Raised;
            public DateTimeOffset? ClearedAt;
            public int Readings;
            public double LastValue, Mean, Variance;
            public DateTimeOffset LastTime;
        }

        private AlertRule? Health(string name) => rules.FirstOrDefault(r => r.Name == name);

        private DeviceState Device(string id, DateTimeOffset now)
        {
            if (!_devices.TryGetValue(id, out var d)) _devices[id] = d = new DeviceState { LastRecord = now, ConnectionChangedAt = now };
            return d;
        }

        private static RuleState State(DeviceState d, AlertRule rule)
        {
            if (!d.Rules.TryGetValue(rule, out var s)) d.Rules[rule] = s = new RuleState();
            return s;
        }

        public bool IsRaised(string id, AlertRule rule) => _devices.TryGetValue(id, out var d) && d.Rules.TryGetValue(rule, out var s) && s.Raised;

        public void Expect(string id) => Device(id, time.GetUtcNow());

        public void Forget(string id) => _devices.Remove(id);

        public List<Alert> Process(TelemetryRecord[] batch)
        {
            var now = time.GetUtcNow();
            var alerts = new List<Alert>();
            foreach (var r in batch)
            {
                var d = Device(r.DeviceId, now);
                if (Health("silence") is { } silence)
                {
                    var s = State(d, silence);
                    if (s.Raised)
                    {
                        (s.Raised, s.ClearedAt) = (false, now);
                        alerts.Add(HealthAlert(true, silence, r.DeviceId, now, now - d.LastRecord));
                    }
                }
                d.LastRecord = now;
                foreach (var rule in rules.Where(x => x.Metric == r.Metric).OrderBy(x => x.Name == "threshold" ? 0 : 1))
                {
                    var s = State(d, rule);
                    double? score = null;
                    if (rule.Name == "threshold")
                    {
                        if (Flip(s, r.Value, rule) is { } kind) alerts.Add(MetricAlert(kind, rule, r, null));
                        continue;
                    }
                    if (rule.Name == "rateOfChange")
                    {
                        if (s.Readings++ > 0)
                        {
                            if (r.Timestamp <= s.LastTime) continue;
                            score = Math.Abs(r.Value - s.LastValue) / (r.Timestamp - s.LastTime).TotalSeconds;
                        }
                        (s.LastValue, s.LastTime) = (r.Value, r.Timestamp);
                    }
                    else
                    {
                        if (s.Readings++ == 0) { s.Mean = r.Value; continue; }
                        var diff = r.Value - s.Mean;
                        var sd = Math.Sqrt(s.Variance);
                        var z = sd > 0 ? Math.Abs(diff) / sd : diff == 0 ? 0 : double.MaxValue;
                        s.Mean += rule.Alpha * diff;
                        s.Variance = (1 - rule.Alpha) * (s.Variance + diff * (rule.Alpha * diff));
                        if (s.Readings > rule.WarmUp) score = z;
                    }
                    if (score is { } x && Flip(s, x, rule) is { } k) alerts.Add(MetricAlert(k, rule, r, x));
                }
            }
            return alerts;
        }

        private static bool? Flip(RuleState s, double score, AlertRule rule)
        {
            if (!s.Raised && score > rule.RaiseAbove) { s.Raised = true; return false; }
            if (s.Raised && score < rule.ClearBelow) { s.Raised = false; return true; }
            return null;
        }

        public List<Alert> Evaluate()
        {
            var now = time.GetUtcNow();
            var alerts = new List<Alert>();
            foreach (var (id, d) in _devices)
            {
                if (Health("offline") is { } offline && d.Connected == false && Due(State(d, offline), offline, now - d.ConnectionChangedAt, now))
                    alerts.Add(HealthAlert(false, offline, id, now, now - d.ConnectionChangedAt));
                if (Health("silence") is { } silence && d.Connected != false && Due(State(d, silence), silence, now - d.LastRecord, now))
                    alerts.Add(HealthAlert(false, silence, id, now, now - d.LastRecord));
            }
            return alerts;
        }

        private static bool Due(RuleState s, AlertRule rule, TimeSpan quiet, DateTimeOffset now)
        {
            if (s.Raised || quiet <= rule.After || (s.ClearedAt is { } c && now - c < rule.Cooldown)) return false;
            return s.Raised = true;
        }

        public Alert? Observe(DevicePresence e)
        {
            if (e.Connected is not { } connected) return null;
            var now = time.GetUtcNow();
            var d = Device(e.DeviceId, now);
            if (d.Connected == connected) return null;
            Alert? alert = null;
            if (connected && Health("offline") is { } offline && State(d, offline) is { Raised: true } s)
            {
                (s.Raised, s.ClearedAt) = (false, now);
                alert = HealthAlert(true, offline, e.DeviceId, now, now - d.ConnectionChangedAt);
            }
            (d.Connected, d.ConnectionChangedAt) = (connected, e.Since ?? now);
            if (connected && d.LastRecord < now) d.LastRecord = now;
            return alert;
        }

        private static Alert HealthAlert(bool cleared, AlertRule rule, string id, DateTimeOffset now, TimeSpan duration) =>
            new() { Cleared = cleared, Rule = rule, DeviceId = id, Timestamp = now, Duration = duration };

        private static Alert MetricAlert(bool cleared, AlertRule rule, TelemetryRecord r, double? score) =>
            new() { Cleared = cleared, Rule = rule, DeviceId = r.DeviceId, Metric = r.Metric, Value = r.Value, Score = score, Timestamp = r.Timestamp };
    }
}
