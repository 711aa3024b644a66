using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Alerts;

public sealed class CombinedEvaluatorTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly string[] Devices = Enumerable.Range(0, 8).Select(i => "dev-" + i).ToArray();
    private static readonly string[] Metrics = ["temp", "hum", "vib", "other"];
    private readonly FakeTimeProvider _time = new(Start);

    /// <summary>One set of the three evaluators with the same rules: "vib" has both an anomaly and a threshold rule.</summary>
    private sealed class World(FakeTimeProvider time)
    {
        public HealthMonitor Health { get; } = new(new HealthRules { SilentFor = TimeSpan.FromSeconds(10), OfflineFor = TimeSpan.FromSeconds(20), Cooldown = TimeSpan.FromSeconds(15) }, time);
        public AnomalyEvaluator Anomalies { get; } = new([new RateOfChangeRule("temp", 2, 0.5), new EwmaAnomalyRule("vib", 0.2, 3, 1, 5)]);
        public AlertEvaluator Thresholds { get; } = new([new ThresholdAlertRule("hum", 60, 50), new ThresholdAlertRule("vib", 8, 6)]);
        public List<Alert> HealthAlerts { get; } = [];
        public List<Alert> AnomalyAlerts { get; } = [];
        public List<Alert> ThresholdAlerts { get; } = [];
    }

    [Fact]
    public void Gives_the_same_transitions_and_states_as_the_three_evaluators_fed_one_by_one()
    {
        var random = new Random(1507);
        var separate = new World(_time);
        var combinedWorld = new World(_time);
        var combined = new CombinedEvaluator(combinedWorld.Health, combinedWorld.Anomalies, combinedWorld.Thresholds);
        foreach (var id in Devices) { separate.Health.Expect(id); combinedWorld.Health.Expect(id); }

        for (var step = 0; step < 400; step++)
        {
            var batch = RandomBatch(random, step);
            // The reference: what a caller gets from the three evaluators on their own.
            separate.HealthAlerts.AddRange(separate.Health.Observe(batch));
            foreach (var record in batch)
            {
                if (separate.Anomalies.Process(record) is { } a) separate.AnomalyAlerts.Add(a);
                if (separate.Thresholds.Process(record) is { } t) separate.ThresholdAlerts.Add(t);
            }
            // One collection receives every rule's transitions; sorted by rule here to compare with the evaluators one by one.
            var batchAlerts = new List<Alert>();
            var count = combined.Process(batch, batchAlerts);
            Assert.Equal(batchAlerts.Count, count);
            foreach (var alert in batchAlerts)
                (alert.Rule switch
                {
                    AlertRuleKind.Silence or AlertRuleKind.Offline => combinedWorld.HealthAlerts,
                    AlertRuleKind.Threshold => combinedWorld.ThresholdAlerts,
                    _ => combinedWorld.AnomalyAlerts,
                }).Add(alert);

            _time.Advance(TimeSpan.FromSeconds(random.Next(0, 6)));
            if (step % 5 == 0)
            {
                separate.HealthAlerts.AddRange(separate.Health.Evaluate());
                combinedWorld.HealthAlerts.AddRange(combinedWorld.Health.Evaluate());
            }
            if (step % 37 == 36)
            {
                // Forgetting drops the monitor's entry; the combined evaluator must not keep updating the old one.
                var id = Devices[random.Next(Devices.Length)];
                separate.Health.Forget(id);
                combinedWorld.Health.Forget(id);
            }
            if (step % 23 == 22)
            {
                var presence = new PresenceEvent(Devices[random.Next(Devices.Length)], random.Next(2) == 0 ? PresenceEventKind.Connected : PresenceEventKind.Disconnected, _time.GetUtcNow(), null);
                if (separate.Health.Observe(presence) is { } h1) separate.HealthAlerts.Add(h1);
                if (combinedWorld.Health.Observe(presence) is { } h2) combinedWorld.HealthAlerts.Add(h2);
            }
        }

        // Not vacuous: the stream raised and cleared every kind of rule.
        Assert.Contains(separate.HealthAlerts, a => a is { Rule: AlertRuleKind.Silence, Kind: AlertEventKind.Cleared });
        Assert.Contains(separate.AnomalyAlerts, a => a is { Rule: AlertRuleKind.RateOfChange, Kind: AlertEventKind.Cleared });
        Assert.Contains(separate.AnomalyAlerts, a => a is { Rule: AlertRuleKind.Anomaly, Kind: AlertEventKind.Raised });
        Assert.Contains(separate.ThresholdAlerts, a => a is { Metric: "vib", Kind: AlertEventKind.Cleared });
        Assert.Contains(separate.ThresholdAlerts, a => a is { Metric: "hum", Kind: AlertEventKind.Cleared });

        Assert.All(separate.ThresholdAlerts, a => Assert.Equal(AlertRuleKind.Threshold, a.Rule));
        Assert.Equal(WithoutIds(separate.HealthAlerts), WithoutIds(combinedWorld.HealthAlerts));
        Assert.Equal(WithoutIds(separate.AnomalyAlerts), WithoutIds(combinedWorld.AnomalyAlerts));
        Assert.Equal(WithoutIds(separate.ThresholdAlerts), WithoutIds(combinedWorld.ThresholdAlerts));
        // Every transition has its own id (the webhook's idempotency key).
        var all = separate.HealthAlerts.Concat(separate.AnomalyAlerts).Concat(separate.ThresholdAlerts).Concat(combinedWorld.HealthAlerts)
            .Concat(combinedWorld.AnomalyAlerts).Concat(combinedWorld.ThresholdAlerts).ToList();
        Assert.Equal(all.Count, all.Select(a => a.Id).Distinct().Count());
        var presenceList = Devices.Select(id => new DevicePresence { DeviceId = id, Connected = true }).ToList();
        Assert.Equal(Summary(separate, presenceList), Summary(combinedWorld, presenceList));
    }

    /// <summary>The alerts with their ids blanked: two evaluators give the same transition different ids.</summary>
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

    private static object Summary(World world, List<DevicePresence> presence) =>
        FleetHealthSummary.Create(presence, null, world.Health, world.Anomalies, world.Thresholds).Rules
            .Select(r => $"{r.Rule}/{r.Metric}: ok {r.Ok}, firing {string.Join(',', r.FiringDevices)}").ToList();

    [Fact]
    public void A_batch_with_an_uninitialized_record_is_refused_whole()
    {
        var world = new World(_time);
        var combined = new CombinedEvaluator(world.Health, world.Anomalies, world.Thresholds);
        Assert.Throws<ArgumentException>(() => combined.Process([new TelemetryRecord("d1", "hum", 99, Start), default]));
        Assert.False(world.Thresholds.IsRaised("d1", "hum"));
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Empty(world.Health.Evaluate()); // d1 was not applied, so it is not expected
        Assert.Equal(0, combined.Process([]));
    }

    [Fact]
    public void Needs_at_least_one_evaluator_and_works_with_any_subset()
    {
        Assert.Throws<ArgumentException>(() => new CombinedEvaluator());
        var thresholds = new AlertEvaluator([new ThresholdAlertRule("hum", 60, 50)]);
        var onlyThresholds = new CombinedEvaluator(thresholds: thresholds);
        var alerts = new List<Alert>();
        Assert.Equal(1, onlyThresholds.Process([new TelemetryRecord("d1", "hum", 61, Start), new TelemetryRecord("d1", "temp", 99, Start)], alerts));
        Assert.Equal((AlertEventKind.Raised, AlertRuleKind.Threshold, "d1", (double?)61.0), (alerts[0].Kind, alerts[0].Rule, alerts[0].DeviceId, alerts[0].Value));
        Assert.True(thresholds.IsRaised("d1", "hum"));

        var health = new HealthMonitor(new HealthRules { SilentFor = TimeSpan.FromSeconds(10), Cooldown = TimeSpan.Zero }, _time);
        var onlyHealth = new CombinedEvaluator(health);
        onlyHealth.Process([new TelemetryRecord("d1", "x", 1, Start)]);
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Single(health.Evaluate());
        var cleared = new List<Alert>();
        Assert.Equal(1, onlyHealth.Process([new TelemetryRecord("d1", "x", 1, Start)], cleared));
        Assert.Equal((AlertEventKind.Cleared, AlertRuleKind.Silence, (TimeSpan?)TimeSpan.FromSeconds(11)), (cleared[0].Kind, cleared[0].Rule, cleared[0].Duration));
    }

    [Fact]
    public async Task A_silence_cleared_by_a_batch_is_streamed_by_the_monitor()
    {
        var world = new World(_time);
        var combined = new CombinedEvaluator(world.Health, world.Anomalies, world.Thresholds);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var reader = world.Health.ReadAlertsAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var next = reader.MoveNextAsync().AsTask(); // subscribes
        world.Health.Expect("d1");
        _time.Advance(TimeSpan.FromSeconds(11));
        world.Health.Evaluate();
        Assert.True(await next);
        Assert.Equal(AlertEventKind.Raised, reader.Current.Kind);
        combined.Process([new TelemetryRecord("d1", "hum", 1, _time.GetUtcNow())]);
        Assert.True(await reader.MoveNextAsync());
        Assert.Equal((AlertEventKind.Cleared, "d1", AlertRuleKind.Silence), (reader.Current.Kind, reader.Current.DeviceId, reader.Current.Rule));
    }

    [Fact]
    public void Processing_batches_of_known_devices_allocates_nothing()
    {
        var world = new World(_time);
        var combined = new CombinedEvaluator(world.Health, world.Anomalies, world.Thresholds);
        const int PerPass = 512, Passes = 5;
        // Values inside every rule's limits and readings' times moving forward, as a quiet live stream's would.
        var records = Enumerable.Range(0, PerPass * (Passes + 2))
            .Select(i => new TelemetryRecord("d" + (i / 4 % 100), Metrics[i % 4], 5, Start.AddSeconds(i)))
            .ToArray();
        combined.Process(records.AsSpan(0, PerPass)); // every device and metric is known from here on
        var alerts = new List<Alert>(); // a reused collection, as a caller would keep one
        var bytes = Allocations.SteadyStateBytes(pass =>
            combined.Process(records.AsSpan((pass + 1) * PerPass, PerPass), alerts), Passes);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public async Task Running_next_to_the_evaluators_own_methods_neither_deadlocks_nor_loses_a_transition()
    {
        // The combined evaluator takes all three evaluators' locks; their own methods take one each. Different devices per
        // thread, so each device's final state is known whatever the interleaving.
        var world = new World(_time);
        var combined = new CombinedEvaluator(world.Health, world.Anomalies, world.Thresholds);
        const int Rounds = 2_000;
        TelemetryRecord Hum(string device, int round) => new(device, "hum", round % 2 == 0 ? 61 : 49, Start.AddSeconds(round));
        var viaCombined = Task.Run(() =>
        {
            var transitions = 0;
            for (var round = 0; round < Rounds; round++) transitions += combined.Process([Hum("c1", round), Hum("c2", round)]);
            return transitions;
        });
        var viaEvaluators = Task.Run(() =>
        {
            var transitions = 0;
            for (var round = 0; round < Rounds; round++)
            {
                if (world.Thresholds.Process(Hum("e1", round)) is not null) transitions++;
                world.Health.Observe(Hum("e1", round));
                world.Health.Forget("gone"); // moves the forget count, so the combined evaluator drops its cache now and then
                world.Health.Expect("gone");
            }
            return transitions;
        });
        var counts = await Task.WhenAll(viaCombined, viaEvaluators).WaitAsync(TimeSpan.FromMinutes(2));
        // Every round flips each device's hum alert: raised at 61, cleared at 49.
        Assert.Equal((2 * Rounds, Rounds), (counts[0], counts[1]));
        Assert.False(world.Thresholds.IsRaised("c1", "hum") || world.Thresholds.IsRaised("c2", "hum") || world.Thresholds.IsRaised("e1", "hum"));
    }
}
