using System.Diagnostics;
using System.Globalization;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.Tests.Outbox;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>
/// Issue #7, broker faults: a durable <see cref="TelemetryPipeline"/> streams records of several devices through
/// <see cref="MqttTelemetryTransport"/> to a real Eclipse Mosquitto (mutual TLS) while the broker is SIGKILLed and
/// restarted at seeded random moments. A persistent-session QoS 1 subscriber counts records by their dedup key (the
/// outbox sequence, JSON <c>"s"</c>). Every record written must arrive; duplicates stay within a stated bound.
/// </summary>
/// <remarks>
/// Mosquitto 2.0 acknowledges a publish (PUBACK) while handling it and saves its database only at the end of that pass
/// of its event loop (<c>autosave_on_changes</c>), so a SIGKILL in between loses a message the SDK was already told is
/// safe. No setting closes that window, so the test attributes every missing record (<see cref="SoakLossClassifier"/>):
/// the SDK must lose nothing (every missing record was PUBACKed), and every record Mosquitto lost must be one it
/// PUBACKed and that no database file it left behind holds (each is read while the broker is down after a SIGKILL, and
/// after the final clean stop). Both counts are printed. See docs/RELIABILITY.md.
/// </remarks>
public sealed class MosquittoSoakTests(ITestOutputHelper output) : IDisposable
{
    private const string Topic = "telemetry/soak";
    private const int Devices = 8;
    private const int MaxBatchRecords = 512;
    private const int BrokerInflight = 20;

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    // Durability settings that narrow Mosquitto's own window: write the database after every change, keep every
    // subscriber's queue (0 = no limit, so nothing is dropped for a slow consumer), and a persistent session for the consumer.
    private static readonly string[] BrokerConfiguration =
    [
        "autosave_on_changes true",
        "autosave_interval 1",
        "max_queued_messages 0",
        $"max_inflight_messages {BrokerInflight}",
        "persistent_client_expiration 1h",
    ];

    private readonly OutboxTestDirectory _outbox = new();

    public void Dispose() => _outbox.Dispose();

    [Fact]
    public Task Every_record_arrives_while_mosquitto_is_killed_20_times_100k_records() =>
        RunAsync(new SoakPlan(Records: 100_000, Kills: 20, Seed: 20261126));

    [LongFact]
    public Task Every_record_arrives_while_mosquitto_is_killed_100_times_1M_records() =>
        RunAsync(new SoakPlan(Records: 1_000_000, Kills: 100, Seed: 20261127));

    private sealed record SoakPlan(int Records, int Kills, int Seed);

    /// <summary>Published after the final flush: its arrival means the consumer has every message the broker queued before it.</summary>
    private static readonly byte[] EndMarker = "soak-end-marker"u8.ToArray();

    private async Task RunAsync(SoakPlan plan)
    {
        var clock = Stopwatch.StartNew();
        await using var broker = await MosquittoBroker.StartAsync(new MosquittoBrokerOptions { Persistence = true, ExtraConfiguration = BrokerConfiguration });
        try
        {
            await RunAsync(plan, broker, clock);
        }
        catch (Exception) when (KeepBrokerLog(broker))
        {
            throw; // not reached: the filter only copies the log before the broker's directory is deleted
        }
    }

    /// <summary>Copies the broker's log out of its temp directory so a failure can be analysed; returns false.</summary>
    private bool KeepBrokerLog(MosquittoBroker broker)
    {
        try
        {
            string kept = Path.Combine(Path.GetTempPath(), $"iotm-soak-{DateTime.UtcNow:yyyyMMdd-HHmmss}-mosquitto.log");
            File.Copy(broker.LogPath, kept, overwrite: true);
            output.WriteLine($"broker log kept at {kept}");
        }
        catch (IOException ex)
        {
            output.WriteLine($"broker log not kept: {ex.Message}");
        }
        return false;
    }

    private async Task RunAsync(SoakPlan plan, MosquittoBroker broker, Stopwatch clock)
    {
        var ledger = new DeliveryLedger(plan.Records, clock);
        await using var consumer = new MqttDeviceClient(ClientOptions(broker, "soak-consumer") with
        {
            // MQTT 3.1.1 with clean session false: the session (subscription and queue) outlives the connection; MQTT 5
            // would need a session expiry interval, which MqttDeviceClient does not send.
            Version = MqttVersion.Mqtt311,
            CleanSession = false,
        });
        await consumer.SubscribeAsync(Topic, (message, _) =>
        {
            ledger.Add(message.Payload.Span);
            return ValueTask.CompletedTask;
        });
        await consumer.ConnectAsync().WaitAsync(Bound);

        await using var producer = new MqttDeviceClient(ClientOptions(broker, "soak-producer"));
        await producer.ConnectAsync().WaitAsync(Bound);
        var transport = new RecordingTransport(new MqttTelemetryTransport(producer, Topic), clock);
        var pipelineLog = new ReplayCycleLog();
        var pipeline = new TelemetryPipeline(transport, new TelemetryPipelineOptions
        {
            Outbox = new TelemetryOutboxOptions { Directory = _outbox.Path },
            Encoder = TelemetryJsonEncoder.WithSequence,
            MaxBatchRecords = MaxBatchRecords,
            RetryBaseDelay = TimeSpan.FromMilliseconds(25),
            RetryMaxDelay = TimeSpan.FromMilliseconds(500),
            AttemptTimeout = TimeSpan.FromSeconds(10),
            DrainTimeout = Bound,
        }, logger: pipelineLog);

        var kills = new List<SoakKill>();
        // What the broker had saved: the telemetry sequences in each database file it left (after each SIGKILL, after the final stop).
        var persisted = new HashSet<long>();
        var snapshots = new List<int>();
        int killCount = 0;
        string State() => $"producer connected {producer.IsConnected}, consumer connected {consumer.IsConnected}, broker pid {broker.ProcessId}";
        var random = new Random(plan.Seed);
        using var stopWriter = new CancellationTokenSource();
        var writer = Task.Run(() => WriteAsync(pipeline, plan, () => Volatile.Read(ref killCount), stopWriter.Token));
        var producerRecovery = new List<double>();
        var endToEndRecovery = new List<double>();
        try
        {
            // Killer: once records flow again after a restart, kill when a seeded random share (5-90 %) of what the writer
            // may have written so far has been PUBACKed, so every kill lands mid-stream with publishes in flight; stay down
            // a seeded random time, restart on the same port and persistence file.
            double restartedAt = clock.Elapsed.TotalMilliseconds;
            for (int k = 0; k < plan.Kills; k++)
            {
                await WaitForRecoveryAsync(transport, ledger, restartedAt, k == 0 ? null : (producerRecovery, endToEndRecovery), writer, State);
                long from = transport.HighestAcked;
                long available = (k + 1L) * SegmentLength(plan);
                long target = from + (long)((0.05 + 0.85 * random.NextDouble()) * Math.Max(0, available - from));
                await WaitForAckAsync(transport, target, writer);
                double killedAt = clock.Elapsed.TotalMilliseconds;
                await broker.KillAsync();
                Interlocked.Increment(ref killCount);
                var downFor = Task.Delay(random.Next(0, 250));
                snapshots.Add(ReadPersisted(broker, persisted));
                await downFor;
                double startingAt = clock.Elapsed.TotalMilliseconds;
                await broker.RestartAsync();
                restartedAt = clock.Elapsed.TotalMilliseconds;
                kills.Add(new SoakKill(killedAt, startingAt, restartedAt));
            }
            await WaitForRecoveryAsync(transport, ledger, restartedAt, (producerRecovery, endToEndRecovery), writer, State);
            await writer.WaitAsync(TimeSpan.FromMinutes(10));
            using (var flush = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
                await pipeline.FlushAsync(flush.Token);
            // Mosquitto delivers one session's QoS 1 messages in the order it queued them, so once this marker arrives the
            // consumer has everything the broker still held: no quiet period to guess on a machine that may stall for seconds.
            await producer.PublishAsync(Topic, EndMarker);
            await ledger.WaitForEndMarkerAsync(TimeSpan.FromMinutes(2));
            // A clean stop saves the database: a record the final broker held but never delivered would show up in it.
            await broker.StopAsync();
            snapshots.Add(ReadPersisted(broker, persisted));
        }
        finally
        {
            await stopWriter.CancelAsync();
            await pipeline.DisposeAsync();
        }
        double totalSeconds = clock.Elapsed.TotalSeconds;

        Report(plan, broker, ledger, transport, pipeline, kills, persisted, snapshots, producerRecovery, endToEndRecovery, totalSeconds);
        // Retries wait at most RetryMaxDelay (500 ms) and reconnects at most 400 ms; only an open circuit breaker pauses for its 5 s break.
        output.WriteLine($"pipeline replay cycles after transient failures: {pipelineLog.Cycles}; longest pause between two send attempts {transport.LongestPause:0} ms");
    }

    private void Report(SoakPlan plan, MosquittoBroker broker, DeliveryLedger ledger, RecordingTransport transport, TelemetryPipeline pipeline,
        List<SoakKill> kills, HashSet<long> persisted, List<int> snapshots, List<double> producerRecovery, List<double> endToEndRecovery, double totalSeconds)
    {
        var snapshot = ledger.Snapshot();
        var acks = transport.Log();
        var missing = snapshot.Missing.Select(value => (value, value + snapshot.SequenceOffset)).ToList();
        var losses = SoakLossClassifier.Classify(missing, acks, kills, persisted);
        // Mosquitto's loss per SIGKILL, in PUBACKed batches: the issue #7 runs on a quiet machine only ever saw the last one.
        var brokerBatches = losses.Broker
            .GroupBy(l => l.Kill!.Value)
            .Select(g => (Kill: g.Key, Batches: g.Select(l => acks.Last(a => l.Sequence >= a.First && l.Sequence < a.First + a.Count).First).Distinct().Count()))
            .ToList();
        // How long before each SIGKILL the producer had read its last PUBACK (the killer aims right after one).
        var gaps = kills.Select(k => acks.Where(a => a.At <= k.KilledAt).Select(a => k.KilledAt - a.At).DefaultIfEmpty(double.NaN).Min()).Where(g => !double.IsNaN(g)).ToList();
        var (unsavedInLog, noSubscriber) = ReadBrokerLog(broker.LogPath);

        int duplicates = snapshot.Copies - snapshot.Distinct;
        output.WriteLine($"mosquitto soak, seed {plan.Seed}: records sent {plan.Records:N0}, distinct delivered {snapshot.Distinct:N0}, lost {snapshot.Missing.Count:N0} " +
            $"(by the SDK {losses.Sdk.Count}, by Mosquitto after its PUBACK {losses.Broker.Count} at {brokerBatches.Count} of {kills.Count} kills, unexplained {losses.Unexplained.Count}), " +
            $"duplicates {duplicates:N0} in {snapshot.Copies:N0} copies, kills {kills.Count}");
        output.WriteLine($"Mosquitto's unsaved batches per kill that lost any: {string.Join(", ", brokerBatches.Select(b => $"kill {b.Kill + 1}: {b.Batches}"))}; " +
            $"database files read {snapshots.Count}, telemetry records in them {string.Join("/", snapshots)}");
        output.WriteLine($"batches PUBACKed {acks.Count:N0} (records {acks.Sum(a => (long)a.Count):N0}), failed attempts {transport.Failed:N0} " +
            $"(records possibly received by the broker: {transport.PossiblyReceivedRecords:N0}), messages received {snapshot.Messages:N0}");
        output.WriteLine($"last PUBACK read before each SIGKILL: median {Median(gaps):0.0} ms before, closest {gaps.DefaultIfEmpty().Min():0.0} ms; " +
            $"Mosquitto's log shows {unsavedInLog} PUBACKs sent after the last save started in a killed process, {noSubscriber} PUBACKs with 'no matching subscribers'");
        output.WriteLine($"producer recovery (restart ▸ first PUBACK): median {Median(producerRecovery):0} ms, max {producerRecovery.DefaultIfEmpty().Max():0} ms; " +
            $"end-to-end recovery (restart ▸ first new record at the consumer): median {Median(endToEndRecovery):0} ms, max {endToEndRecovery.DefaultIfEmpty().Max():0} ms");
        output.WriteLine($"pipeline dropped {pipeline.DroppedRecords}, failed {pipeline.FailedRecords}; total {totalSeconds:0.0} s");
        foreach (var loss in losses.Sdk.Concat(losses.Unexplained).Take(10).Concat(losses.Broker.Where((_, i) => i % MaxBatchRecords == 0)))
            output.WriteLine($"  record {loss.Value} (s {loss.Sequence}): {loss.Reason}");

        Assert.Empty(snapshot.Violations);
        Assert.Equal(0, pipeline.DroppedRecords);
        Assert.Equal(0, pipeline.FailedRecords);
        Assert.Equal(plan.Kills, kills.Count);
        Assert.Equal(plan.Kills + 1, snapshots.Count);
        // The consumer's persistent session survived every restart: the broker never accepted a batch with nobody subscribed.
        Assert.Equal(0, noSubscriber);
        Assert.True(losses.Sdk.Count == 0, $"The SDK lost {losses.Sdk.Count} records: {string.Join("; ", losses.Sdk.Take(5))}");
        Assert.True(losses.Unexplained.Count == 0, $"{losses.Unexplained.Count} missing records are not Mosquitto's unsaved PUBACKs: {string.Join("; ", losses.Unexplained.Take(5))}");
        // Per kill: the batch in flight when the producer's connection dropped is sent again (≤ one batch), and the
        // broker redelivers what its last saved session still held as unacknowledged for the consumer (≤ its inflight window).
        long bound = (long)kills.Count * (1 + BrokerInflight) * MaxBatchRecords;
        Assert.True(duplicates <= bound, $"{duplicates} duplicates exceed kills × (1 + {BrokerInflight}) × {MaxBatchRecords} = {bound}");
    }

    /// <summary>
    /// Adds the telemetry sequences of the broker's database file (the broker is down) to <paramref name="persisted"/> and
    /// returns how many records it held. The consumer's subscription must be in every file: it proves the file was read
    /// right, and that the persistent session survives a SIGKILL.
    /// </summary>
    private static int ReadPersisted(MosquittoBroker broker, HashSet<long> persisted)
    {
        var file = MosquittoDatabaseFile.Read(broker.PersistencePath, Topic);
        Assert.Contains(("soak-consumer", Topic), file.Subscriptions);
        int records = 0;
        foreach (var payload in file.Payloads)
        {
            if (payload.Span.SequenceEqual(EndMarker)) continue;
            foreach (var record in TelemetryJson.ReadBatch(payload.Span))
            {
                records++;
                persisted.Add(record.Sequence ?? throw new InvalidDataException($"A persisted record has no sequence: {record}"));
            }
        }
        return records;
    }

    /// <summary>
    /// From Mosquitto's log: the PUBACKs to the producer logged after the last "Saving in-memory database" of each killed
    /// process (a save the kill interrupted does not count, so this is a lower bound), and the PUBACKs with reason code 16.
    /// </summary>
    private static (int UnsavedAtKill, int NoSubscriber) ReadBrokerLog(string logPath)
    {
        int total = 0, sinceSave = 0, noSubscriber = 0;
        bool started = false;
        foreach (var line in File.ReadLines(logPath))
        {
            if (line.Contains("mosquitto version", StringComparison.Ordinal) && line.EndsWith("starting", StringComparison.Ordinal))
            {
                if (started) total += sinceSave; // the previous process was killed here
                started = true;
                sinceSave = 0;
            }
            else if (line.Contains("Saving in-memory database", StringComparison.Ordinal)) sinceSave = 0;
            else if (line.Contains("Sending PUBACK to soak-producer", StringComparison.Ordinal))
            {
                sinceSave++;
                if (line.EndsWith(", rc16)", StringComparison.Ordinal)) noSubscriber++;
            }
        }
        return (total, noSubscriber);
    }

    private static double Median(List<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>Waits (bounded) until a batch was PUBACKed and a never-seen record reached the consumer after <paramref name="since"/>.</summary>
    private static async Task WaitForRecoveryAsync(RecordingTransport transport, DeliveryLedger ledger, double since,
        (List<double> Producer, List<double> EndToEnd)? record, Task writer, Func<string> state)
    {
        var deadline = Stopwatch.StartNew();
        double? acked = null, delivered = null;
        while (acked is null || delivered is null)
        {
            if (writer.IsFaulted) await writer; // surfaces the writer's exception
            acked ??= transport.FirstAckAfter(since);
            delivered ??= ledger.FirstNewArrivalAfter(since);
            if (acked is not null && delivered is not null) break;
            if (deadline.Elapsed > Bound)
                throw new TimeoutException($"No recovery within {Bound.TotalSeconds} s of the restart at {since:0} ms (PUBACK: {acked is not null}, delivery: {delivered is not null}; {state()}).");
            await Task.Delay(2);
        }
        if (record is { } r)
        {
            r.Producer.Add(acked.Value - since);
            r.EndToEnd.Add(delivered.Value - since);
        }
    }

    private static long SegmentLength(SoakPlan plan) => (plan.Records + plan.Kills) / (plan.Kills + 1);

    /// <summary>
    /// Writes records 0..N-1 (value = index, spread over <see cref="Devices"/> devices) as fast as the outbox takes them,
    /// but never beyond segment k+1 of Kills+1 equal segments before kill k+1: every kill finds records streaming, and the
    /// records written during an outage are the backlog the pipeline replays after it.
    /// </summary>
    private static async Task WriteAsync(TelemetryPipeline pipeline, SoakPlan plan, Func<int> kills, CancellationToken cancellationToken)
    {
        const int Chunk = 64;
        var chunk = new TelemetryRecord[Chunk];
        int written = 0;
        while (written < plan.Records)
        {
            long allowed = Math.Min(plan.Records, (kills() + 1L) * SegmentLength(plan));
            int n = (int)Math.Min(Chunk, allowed - written);
            if (n <= 0)
            {
                await Task.Delay(1, cancellationToken);
                continue;
            }
            for (int i = 0; i < n; i++)
            {
                int value = written + i;
                chunk[i] = new TelemetryRecord($"soak-device-{value % Devices}", "temperature", value, DateTimeOffset.UnixEpoch.AddMilliseconds(value));
            }
            await pipeline.WriteBatchAsync(chunk.AsMemory(0, n), cancellationToken);
            written += n;
        }
    }

    /// <summary>
    /// Waits until the producer's highest PUBACKed sequence reaches <paramref name="target"/>. The bound is on progress,
    /// not on the whole wait: it fails only when no new PUBACK came for <see cref="Bound"/>, so a machine that runs the
    /// stream slowly is not mistaken for one that stopped.
    /// </summary>
    private static async Task WaitForAckAsync(RecordingTransport transport, long target, Task writer)
    {
        var stalled = Stopwatch.StartNew();
        long seen = transport.HighestAcked;
        while (seen < target)
        {
            if (writer.IsFaulted) await writer;
            long highest = transport.HighestAcked;
            if (highest != seen)
            {
                seen = highest;
                stalled.Restart();
            }
            else if (stalled.Elapsed > Bound) throw new TimeoutException($"No PUBACK for {Bound.TotalSeconds} s while waiting for sequence {target} (highest {seen}).");
            await Task.Delay(1);
        }
    }

    /// <summary>A client of <paramref name="broker"/> with its own certificate and patient timeouts for a loaded machine; other Mosquitto tests reuse it.</summary>
    internal static MqttDeviceClientOptions ClientOptions(MosquittoBroker broker, string clientId) => new()
    {
        Host = "localhost",
        Port = broker.Port,
        ClientId = clientId,
        ClientCertificate = broker.Ca.IssueDeviceCertificate(clientId).ToCertificate(),
        TrustedRoots = [broker.Ca.Certificate],
        ReconnectBaseDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(400),
        // The first TLS handshake (cold JIT, key generation just done) took over 5 s with both cores busy; a connect to a
        // killed broker fails at once (refused or reset), so a long budget costs nothing when the machine is idle.
        ConnectTimeout = TimeSpan.FromSeconds(30),
        OperationTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>Counts the pipeline's "delivery failed transiently, replaying from the outbox" warnings.</summary>
    private sealed class ReplayCycleLog : ILogger
    {
        private int _cycles;

        public int Cycles => Volatile.Read(ref _cycles);

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning && exception is not null) Interlocked.Increment(ref _cycles);
        }
    }

    /// <summary>Wraps the real transport and records when each batch (by outbox sequence range) was PUBACKed.</summary>
    private sealed class RecordingTransport(ITelemetryTransport inner, Stopwatch clock) : ITelemetryTransport
    {
        private readonly Lock _gate = new();
        private readonly List<SoakAck> _acks = [];
        private long _failed;
        private long _highest;
        private long _possiblyReceived;
        private double _lastAttempt;

        /// <summary>The longest time between the starts of two consecutive send attempts (ms).</summary>
        public double LongestPause { get; private set; }

        public long PossiblyReceivedRecords => Interlocked.Read(ref _possiblyReceived);

        public long HighestAcked => Interlocked.Read(ref _highest);

        public TelemetryTransportLimits Limits => inner.Limits;
        public long Failed => Interlocked.Read(ref _failed);

        public int Acked
        {
            get { lock (_gate) return _acks.Count; }
        }

        public long AckedRecords
        {
            get { lock (_gate) return _acks.Sum(a => (long)a.Count); }
        }

        public async ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken)
        {
            long first = batch.FirstSequence ?? throw new InvalidOperationException("A durable pipeline must give every batch its first sequence.");
            double started = clock.Elapsed.TotalMilliseconds;
            lock (_gate)
            {
                if (_lastAttempt > 0) LongestPause = Math.Max(LongestPause, started - _lastAttempt);
                _lastAttempt = started;
            }
            try
            {
                await inner.SendAsync(batch, cancellationToken);
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _failed);
                // "NotConnected" never left the process; a lost connection or a timeout may have reached the broker.
                if (ex is not IoTException { ErrorCode: "NotConnected" }) Interlocked.Add(ref _possiblyReceived, batch.RecordCount);
                throw;
            }
            double at = clock.Elapsed.TotalMilliseconds;
            lock (_gate)
            {
                _acks.Add(new SoakAck(first, batch.RecordCount, started, at));
                if (first + batch.RecordCount - 1 > _highest) Interlocked.Exchange(ref _highest, first + batch.RecordCount - 1);
            }
        }

        public bool IsTransient(Exception exception) => inner.IsTransient(exception);

        public List<SoakAck> Log()
        {
            lock (_gate) return [.. _acks];
        }

        public double? FirstAckAfter(double since)
        {
            lock (_gate)
            {
                for (int i = _acks.Count - 1; i >= 0 && _acks[i].At > since; i--)
                    if (i == 0 || _acks[i - 1].At <= since) return _acks[i].At;
            }
            return null;
        }
    }

    /// <summary>The consumer's view: copies per record value, the sequence each value came with, arrival times.</summary>
    private sealed class DeliveryLedger(int records, Stopwatch clock)
    {
        private readonly Lock _gate = new();
        private readonly int[] _copies = new int[records];
        private readonly long[] _sequenceOf = new long[records];
        private readonly List<(double At, bool New)> _arrivals = [];
        private readonly List<string> _violations = [];
        private long _offset = long.MinValue;
        private readonly TaskCompletionSource _endMarker = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _distinct;
        private int _total;

        public void Add(ReadOnlySpan<byte> payload)
        {
            if (payload.SequenceEqual(EndMarker))
            {
                _endMarker.TrySetResult();
                return;
            }
            List<TelemetryRecord> batch;
            try
            {
                batch = TelemetryJson.ReadBatch(payload);
            }
            catch (FormatException ex)
            {
                lock (_gate) _violations.Add("unreadable message: " + ex.Message);
                return;
            }
            double at = clock.Elapsed.TotalMilliseconds;
            lock (_gate)
            {
                bool fresh = false;
                foreach (var record in batch)
                {
                    _total++;
                    int value = (int)record.Value;
                    if (record.Sequence is not { } sequence || value != record.Value || value < 0 || value >= records)
                    {
                        if (_violations.Count < 20) _violations.Add($"record without a sequence or with an unknown value: {record}");
                        continue;
                    }
                    // One writer and a fresh outbox: sequence = value + a constant, so one sequence means one record.
                    if (_offset == long.MinValue) _offset = sequence - value;
                    if (sequence - value != _offset || (_sequenceOf[value] != 0 && _sequenceOf[value] != sequence))
                    {
                        if (_violations.Count < 20) _violations.Add($"record {value} came with sequence {sequence} (expected {value + _offset}, first seen {_sequenceOf[value]})");
                        continue;
                    }
                    _sequenceOf[value] = sequence;
                    if (_copies[value]++ == 0)
                    {
                        _distinct++;
                        fresh = true;
                    }
                }
                _arrivals.Add((at, fresh));
            }
        }

        public List<(double At, bool New)> Arrivals()
        {
            lock (_gate) return [.. _arrivals];
        }

        public double? FirstNewArrivalAfter(double since)
        {
            lock (_gate)
            {
                double? first = null;
                for (int i = _arrivals.Count - 1; i >= 0 && _arrivals[i].At > since; i--)
                    if (_arrivals[i].New) first = _arrivals[i].At;
                return first;
            }
        }

        /// <summary>Waits (bounded) for the end marker, published after every record was PUBACKed.</summary>
        public async Task WaitForEndMarkerAsync(TimeSpan bound)
        {
            try
            {
                await _endMarker.Task.WaitAsync(bound);
            }
            catch (TimeoutException)
            {
                lock (_gate) throw new TimeoutException($"The end marker did not reach the consumer within {bound.TotalSeconds} s ({_distinct:N0} of {records:N0} records received).");
            }
        }

        public (int Distinct, int Copies, int Messages, List<int> Missing, long SequenceOffset, List<string> Violations) Snapshot()
        {
            lock (_gate)
            {
                var missing = new List<int>();
                for (int v = 0; v < records; v++) if (_copies[v] == 0) missing.Add(v);
                return (_distinct, _total, _arrivals.Count, missing, _offset == long.MinValue ? 1 : _offset, [.. _violations]);
            }
        }
    }
}
