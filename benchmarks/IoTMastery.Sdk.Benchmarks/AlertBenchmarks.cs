using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// Health and anomaly rule evaluation per telemetry record, on one thread (issue #15: ≥ 10 M records/s on one core,
/// 0 B per record). 1,000,000 records per operation from 1,000 devices × 4 metrics; rules: rate of change on <c>temp</c>,
/// EWMA z-score on <c>vib</c>, a threshold on <c>hum</c>, silence on every device. Every series is known before the
/// measured pass (a fresh warmed-up monitor per iteration, so the rate rule always sees newer readings). Mean is ns per
/// record, Allocated bytes per record. The baseline is the naive way: LINQ <c>GroupBy</c> per 512-record batch. "All rules
/// together" is one <see cref="AlertMonitor"/> with every rule, 512-record batches. The row names are those of the time
/// when each rule kind had its own evaluator (AnomalyEvaluator, AlertEvaluator, HealthMonitor, CombinedEvaluator), kept so
/// that ratios compare across runs; each such row now runs an <see cref="AlertMonitor"/> holding only that row's rules
/// (benchmarks/README.md, "Alert rules").
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortConfig))]
public class AlertBenchmarks
{
    private const int N = 1_000_000;
    private const int Batch = 512;
    private static readonly string[] Metrics = ["temp", "hum", "vib", "pressure"];
    private TelemetryRecord[] _warmUp = [];
    private TelemetryRecord[] _records = [];
    private TelemetryRecord[] _interleaved = [];
    private AlertMonitor _anomaly = null!;
    private AlertMonitor _threshold = null!;
    private AlertMonitor _health = null!;
    private AlertMonitor _combined = null!;
    private NaiveRules _naive = null!;

    [GlobalSetup]
    public void Setup()
    {
        var devices = Enumerable.Range(0, 1_000).Select(i => $"plant-7-line-3-sensor-{i:D4}").ToArray();
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        TelemetryRecord Make(int i, DateTimeOffset from) =>
            new(devices[i / Metrics.Length % devices.Length], Metrics[i % Metrics.Length], 20 + (i * 7919 % 1000) / 500.0, from.AddMilliseconds(i));
        _warmUp = Enumerable.Range(0, 40_000).Select(i => Make(i, start)).ToArray();
        _records = Enumerable.Range(0, N).Select(i => Make(i, start.AddHours(1))).ToArray();
        // The same records with no two neighbours from one device (each device's series still in time order): the worst
        // case for the monitor, which skips the device lookup when a record has the previous record's device id.
        var perCycle = devices.Length * Metrics.Length;
        _interleaved = Enumerable.Range(0, N)
            .Select(i => _records[i / perCycle * perCycle + i % devices.Length * Metrics.Length + i % perCycle / devices.Length])
            .ToArray();
    }

    [IterationSetup]
    public void FreshEvaluators()
    {
        AlertRule[] anomaly = [AlertRule.RateOfChange("temp", 1e6, 1e5), AlertRule.Ewma("vib", 0.1, 4, 2, 10)];
        AlertRule[] threshold = [AlertRule.Threshold("hum", 1e6, 1e5)];
        AlertRule[] health = [AlertRule.Silence(TimeSpan.FromMinutes(1))];
        // The system clock: reading it is part of the cost of the monitors with a silence rule.
        _anomaly = new AlertMonitor(anomaly);
        _threshold = new AlertMonitor(threshold);
        _health = new AlertMonitor(health);
        _combined = new AlertMonitor([.. health, .. anomaly, .. threshold]);
        _naive = new NaiveRules();
        // The per-kind monitors learn the warm-up one record at a time, the combined one in batches: every device and metric
        // is known to each before the measured pass.
        foreach (var record in _warmUp.AsSpan())
        {
            _anomaly.Process([record]);
            _threshold.Process([record]);
            _health.Process([record]);
        }
        ProcessCombined(_warmUp);
        _naive.Process(_warmUp);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "naive: LINQ GroupBy per 512-record batch, all rules")]
    public int Naive() => _naive.Process(_records);

    [Benchmark(OperationsPerInvoke = N, Description = "AnomalyEvaluator.Process (rate + EWMA)")]
    public int Anomaly()
    {
        var alerts = 0;
        foreach (ref readonly var record in _records.AsSpan())
            alerts += _anomaly.Process([record]);
        return alerts;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "AlertEvaluator.Process (threshold)")]
    public int Threshold()
    {
        var alerts = 0;
        foreach (ref readonly var record in _records.AsSpan())
            alerts += _threshold.Process([record]);
        return alerts;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "HealthMonitor.Observe (silence)")]
    public int Health()
    {
        var alerts = 0;
        foreach (ref readonly var record in _records.AsSpan())
            alerts += _health.Process([record]);
        return alerts;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "HealthMonitor.Observe(512-record batch)")]
    public int HealthBatch()
    {
        var alerts = 0;
        var records = _records.AsSpan();
        for (var i = 0; i < records.Length; i += Batch)
            alerts += _health.Process(records.Slice(i, Math.Min(Batch, records.Length - i)));
        return alerts;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "all three, HealthMonitor per 512-record batch (SDK)")]
    public int AllBatched()
    {
        var alerts = 0;
        var records = _records.AsSpan();
        for (var i = 0; i < records.Length; i += Batch)
        {
            var batch = records.Slice(i, Math.Min(Batch, records.Length - i));
            alerts += _health.Process(batch);
            foreach (ref readonly var record in batch)
            {
                alerts += _anomaly.Process([record]);
                alerts += _threshold.Process([record]);
            }
        }
        return alerts;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "all rules together: CombinedEvaluator per 512-record batch")]
    public int Combined() => ProcessCombined(_records);

    [Benchmark(OperationsPerInvoke = N, Description = "all rules together: CombinedEvaluator, no two neighbours from one device")]
    public int CombinedInterleaved() => ProcessCombined(_interleaved);

    private int ProcessCombined(ReadOnlySpan<TelemetryRecord> records)
    {
        var alerts = 0;
        for (var i = 0; i < records.Length; i += Batch)
            alerts += _combined.Process(records.Slice(i, Math.Min(Batch, records.Length - i)));
        return alerts;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "reference: TimeProvider.System.GetUtcNow() alone")]
    public long Clock()
    {
        long ticks = 0;
        for (var i = 0; i < _records.Length; i++) ticks += TimeProvider.System.GetUtcNow().UtcTicks;
        return ticks;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "all three per record (SDK)")]
    public int All()
    {
        var alerts = 0;
        foreach (ref readonly var record in _records.AsSpan())
        {
            alerts += _health.Process([record]);
            alerts += _anomaly.Process([record]);
            alerts += _threshold.Process([record]);
        }
        return alerts;
    }

    /// <summary>
    /// `alerts-smoke [rounds]`: each method on fresh warmed-up evaluators, timed with a stopwatch, round-robin; prints the
    /// median and the minimum ns per record. The minimum is what one core does when the scheduler leaves it alone, which
    /// on a shared, overloaded machine is the closest figure to an idle core's.
    /// </summary>
    public static void Smoke(int rounds)
    {
        var bench = new AlertBenchmarks();
        bench.Setup();
        var methods = new (string Name, Func<AlertBenchmarks, long> Run)[]
        {
            ("naive LINQ (baseline)", b => b.Naive()), ("AnomalyEvaluator", b => b.Anomaly()), ("AlertEvaluator", b => b.Threshold()),
            ("HealthMonitor", b => b.Health()), ("HealthMonitor, batch 512", b => b.HealthBatch()), ("GetUtcNow alone", b => b.Clock()),
            ("all three", b => b.All()), ("all three, batched health", b => b.AllBatched()),
            ("CombinedEvaluator", b => b.Combined()), ("CombinedEvaluator, interleaved", b => b.CombinedInterleaved()),
        };
        var samples = methods.Select(_ => new List<double>()).ToArray();
        for (var round = 0; round < rounds; round++)
            for (var m = 0; m < methods.Length; m++)
            {
                bench.FreshEvaluators();
                var watch = System.Diagnostics.Stopwatch.StartNew();
                methods[m].Run(bench);
                samples[m].Add(watch.Elapsed.TotalNanoseconds / N);
            }
        Console.WriteLine($"{"method",-32} {"median ns/rec",14} {"min ns/rec",11} {"M rec/s (min)",14}");
        for (var m = 0; m < methods.Length; m++)
        {
            var sorted = samples[m].Order().ToList();
            Console.WriteLine(FormattableString.Invariant($"{methods[m].Name,-32} {sorted[sorted.Count / 2],14:F1} {sorted[0],11:F1} {1000 / sorted[0],14:F1}"));
        }
    }

    /// <summary>
    /// The same rules written the obvious way: group each batch by device and metric with LINQ, find the rule with LINQ,
    /// fold the group's readings into per-series state kept in a dictionary. Same arithmetic as the SDK's evaluators.
    /// </summary>
    private sealed class NaiveRules
    {
        private readonly List<(string Metric, string Kind, double Raise, double Clear)> _rules =
            [("temp", "rate", 1e6, 1e5), ("vib", "ewma", 4, 2), ("hum", "threshold", 1e6, 1e5)];
        private readonly Dictionary<(string, string), State> _state = [];
        private readonly Dictionary<string, DateTimeOffset> _lastSeen = [];

        public int Process(TelemetryRecord[] records)
        {
            var alerts = 0;
            foreach (var batch in records.Chunk(Batch))
            {
                foreach (var device in batch.GroupBy(r => r.DeviceId))
                    _lastSeen[device.Key] = device.Max(r => r.Timestamp);
                foreach (var series in batch.GroupBy(r => (r.DeviceId, r.Metric)))
                {
                    var rule = _rules.FirstOrDefault(r => r.Metric == series.Key.Metric);
                    if (rule.Metric is null) continue;
                    if (!_state.TryGetValue(series.Key, out var s)) _state[series.Key] = s = new State();
                    alerts += series.OrderBy(r => r.Timestamp).Count(r => s.Step(rule.Kind, rule.Raise, rule.Clear, r));
                }
            }
            return alerts;
        }

        private sealed class State
        {
            private bool _hasLast;
            private double _last, _mean, _variance;
            private DateTimeOffset _lastTime;
            private long _count;
            private bool _raised;

            public bool Step(string kind, double raise, double clear, TelemetryRecord r)
            {
                double score;
                if (kind == "threshold") score = r.Value;
                else if (kind == "rate")
                {
                    if (!_hasLast) { (_hasLast, _last, _lastTime) = (true, r.Value, r.Timestamp); return false; }
                    var seconds = (r.Timestamp - _lastTime).TotalSeconds;
                    if (seconds <= 0) return false;
                    score = Math.Abs(r.Value - _last) / seconds;
                    (_last, _lastTime) = (r.Value, r.Timestamp);
                }
                else
                {
                    if (_count++ == 0) { _mean = r.Value; return false; }
                    var diff = r.Value - _mean;
                    var sd = Math.Sqrt(_variance);
                    score = sd > 0 ? Math.Abs(diff) / sd : (diff == 0 ? 0 : double.MaxValue);
                    _mean += 0.1 * diff;
                    _variance = 0.9 * (_variance + diff * 0.1 * diff);
                    if (_count <= 10) return false;
                }
                if (!_raised && score > raise) return _raised = true;
                if (_raised && score < clear) { _raised = false; return true; }
                return false;
            }
        }
    }
}
