using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using IoTMastery.Sdk.Local;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>Shorter still: every invocation crosses a real broker, so one takes tens of ms to seconds.</summary>
public sealed class EndToEndConfig : ManualConfig
{
    public EndToEndConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5));
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}

/// <summary>
/// Records per second delivered and acknowledged (MQTT QoS 1, PUBACK) by a real broker on loopback with
/// mutual TLS: the Local provider's embedded MQTTnet broker (in this process) and Eclipse Mosquitto (its own
/// process). Every method sends the same ~100-byte records over one <see cref="MqttDeviceClient"/>, so Mean is
/// ns per acknowledged record. The per-record loop is what the pipeline replaces; the hand-batched loops are
/// what a careful user would write without it.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(EndToEndConfig))]
public class EndToEndBenchmarks
{
    internal const int RecordCount = 20_000;
    internal const int PerRecordCount = 20_000;
    private const int N = RecordCount;
    private const int PerRecordN = PerRecordCount;
    private const int HandBatch = 512; // the pipeline's default MaxBatchRecords, so both send the same messages
    private const string DeviceId = "plant-7-line-3-sensor-0001";
    private static readonly string Topic = $"devices/{DeviceId}/telemetry";

    private TelemetryRecord[] _records = [];
    private ReadOnlyMemory<byte>[] _preEncoded = [];
    private readonly ArrayBufferWriter<byte> _buffer = new(128 * 1024);
    private LocalIoTProvider? _local;
    private MosquittoBroker? _mosquitto;
    private MqttDeviceClient _client = null!;
    private TelemetryPipeline _pipeline = null!;
    private TelemetryPipeline _pipelineOneInFlight = null!;
    private long _sent;

    // e2e-smoke only (README, "Socket buffers"): the client's socket buffers (both rows share the client), and Mosquitto
    // with Nagle's algorithm off, which a larger buffer needs to avoid a ~40 ms wait for held-back PUBACKs at each flush.
    private static readonly int? SocketBufferBytes = int.TryParse(Environment.GetEnvironmentVariable("E2E_SOCKET_BUFFER"), out var bytes) ? bytes : null;
    private static readonly bool MosquittoNoDelay = Environment.GetEnvironmentVariable("E2E_MOSQUITTO_NODELAY") == "1";

    /// <summary>Set by e2e-smoke to see batch sizes and time spent in the transport.</summary>
    internal SendProbe? Probe { get; set; }

    [Params("Local", "Mosquitto")]
    public string Broker { get; set; } = "Local";

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        _records = Records(N);
        _preEncoded = Enumerable.Range(0, (N + HandBatch - 1) / HandBatch).Select(i =>
        {
            var writer = new ArrayBufferWriter<byte>();
            TelemetryJson.WriteBatch(writer, _records.AsSpan(i * HandBatch, Math.Min(HandBatch, N - i * HandBatch)));
            return writer.WrittenMemory;
        }).ToArray();

        MqttDeviceClientOptions options;
        if (Broker == "Local")
        {
            _local = await LocalIoTProvider.StartAsync();
            options = await LocalDeviceOptionsAsync(_local, DeviceId);
        }
        else
        {
            // Connection events only: 'log_type all' would write a line per PUBLISH/PUBACK and measure the disk.
            _mosquitto = await MosquittoBroker.StartAsync(new MosquittoBrokerOptions { LogTypes = ["error", "warning", "notice"], ExtraConfiguration = MosquittoNoDelay ? ["set_tcp_nodelay true"] : [] });
            options = new MqttDeviceClientOptions
            {
                Host = "127.0.0.1",
                Port = _mosquitto.Port,
                ClientId = DeviceId,
                ClientCertificate = _mosquitto.Ca.IssueDeviceCertificate(DeviceId).ToCertificate(),
                TrustedRoots = [_mosquitto.Ca.Certificate],
            };
        }
        _client = new MqttDeviceClient(options with { SocketBufferBytes = SocketBufferBytes ?? options.SocketBufferBytes }, Broker);
        await _client.ConnectAsync();
        ITelemetryTransport transport = new MqttTelemetryTransport(_client, Topic);
        if (Probe is not null) transport = Probe.Wrap(transport);
        _pipeline = new TelemetryPipeline(transport);
        // Issue #18: the pipeline as it was before several batches in flight, kept as a row so the change shows as a ratio.
        _pipelineOneInFlight = new TelemetryPipeline(transport, new TelemetryPipelineOptions { MaxBatchesInFlight = 1 });
    }

    /// <summary>Registers <paramref name="deviceId"/> with an X.509 credential and returns mutual-TLS client options for it.</summary>
    internal static async Task<MqttDeviceClientOptions> LocalDeviceOptionsAsync(LocalIoTProvider local, string deviceId)
    {
        var registered = await local.Registry.RegisterAsync(new DeviceRegistration { Id = deviceId, Credential = CredentialRequest.X509 });
        return new MqttDeviceClientOptions
        {
            Host = "127.0.0.1",
            Port = local.Port,
            ClientId = deviceId,
            ClientCertificate = registered.Credential!.ToCertificate(),
            TrustedRoots = [local.CertificateAuthority],
            // What a Local device connection uses unless told otherwise.
            SocketBufferBytes = LocalDeviceConnection.DefaultSocketBufferBytes,
        };
    }

    /// <summary>CPU time used by the Mosquitto process so far (zero for the in-process Local broker).</summary>
    internal TimeSpan BrokerProcessCpu => _mosquitto?.ProcessorTime ?? TimeSpan.Zero;

    [GlobalCleanup]
    public void Cleanup()
    {
        _pipeline.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _pipelineOneInFlight.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        if (_local is not null)
        {
            // Sanity check that "acknowledged" meant delivered: the embedded broker parsed and kept every record.
            var received = ((LocalTelemetryChannel)_local.Telemetry).UnreadRecords;
            var rejected = ((LocalTelemetryChannel)_local.Telemetry).RejectedRecords;
            Console.WriteLine($"// Local broker: {_sent:N0} records acknowledged, {received:N0} received, {rejected:N0} rejected.");
            if (received != _sent || rejected > 0) throw new InvalidOperationException($"The Local broker received {received} of {_sent} acknowledged records and rejected {rejected}.");
            _local.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        _mosquitto?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(OperationsPerInvoke = PerRecordN, Description = "one QoS 1 publish per record")]
    public async Task PerRecord()
    {
        for (int i = 0; i < PerRecordN; i++)
        {
            _buffer.ResetWrittenCount();
            TelemetryJson.WriteBatch(_buffer, _records.AsSpan(i, 1));
            await _client.PublishAsync(Topic, _buffer.WrittenMemory, MqttQualityOfService.AtLeastOnce).ConfigureAwait(false);
        }
        _sent += PerRecordN;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "hand-batched: 512 per publish, encode + await PUBACK")]
    public async Task HandBatched()
    {
        for (int i = 0; i < N; i += HandBatch)
        {
            _buffer.ResetWrittenCount();
            TelemetryJson.WriteBatch(_buffer, _records.AsSpan(i, Math.Min(HandBatch, N - i)));
            await _client.PublishAsync(Topic, _buffer.WrittenMemory, MqttQualityOfService.AtLeastOnce).ConfigureAwait(false);
        }
        _sent += N;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "hand-batched, pre-encoded (network ceiling)")]
    public async Task HandBatchedPreEncoded()
    {
        foreach (var payload in _preEncoded)
            await _client.PublishAsync(Topic, payload, MqttQualityOfService.AtLeastOnce).ConfigureAwait(false);
        _sent += N;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "pipeline + MqttTelemetryTransport, FlushAsync")]
    public Task Pipeline() => RunAsync(_pipeline);

    [Benchmark(OperationsPerInvoke = N, Description = "pipeline, MaxBatchesInFlight = 1 (before issue #18)")]
    public Task PipelineOneInFlight() => RunAsync(_pipelineOneInFlight);

    internal async Task RunAsync(TelemetryPipeline pipeline)
    {
        foreach (var record in _records)
        {
            if (!pipeline.TryWrite(record)) await pipeline.WriteAsync(record).ConfigureAwait(false);
        }
        await pipeline.FlushAsync().ConfigureAwait(false);
        _sent += N;
    }

    internal TelemetryPipeline CreatePipeline(TelemetryPipelineOptions options, SendProbe? probe)
    {
        ITelemetryTransport transport = new MqttTelemetryTransport(_client, Topic);
        if (probe is not null) transport = probe.Wrap(transport);
        return new TelemetryPipeline(transport, options);
    }

    /// <summary>One device's records, ~100 bytes each as JSON (the Local broker drops records naming another device).</summary>
    internal static TelemetryRecord[] Records(int count)
    {
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var records = new TelemetryRecord[count];
        for (int i = 0; i < count; i++)
            records[i] = new TelemetryRecord(DeviceId, "coolant.temperature.celsius", 20 + (i % 1000) / 100.0, start.AddMilliseconds(i));
        return records;
    }
}

/// <summary>`e2e-smoke`: runs each end-to-end method a few times with a stopwatch, to check the setup and profile quickly.</summary>
public static class EndToEndSmoke
{
    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    // Context switches of every thread of this process so far (Linux; zero elsewhere): with thread-pool work items, a
    // count of the thread hand-offs per message, which CPU time alone does not tell apart from encoding.
    private static long ContextSwitches()
    {
        long total = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                            total += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), System.Globalization.CultureInfo.InvariantCulture);
                    }
                }
                catch (IOException)
                {
                    // The thread ended while being read.
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return total;
    }

    public static async Task RunAsync(string[] brokers, int rounds)
    {
        foreach (var broker in brokers)
        {
            var probe = new SendProbe();
            var bench = new EndToEndBenchmarks { Broker = broker, Probe = probe };
            bench.Setup();
            // Option variants a user might try (none changed the picture, see README), and the previous encoder as a baseline.
            var variants = new (string, TelemetryPipelineOptions)[]
            {
                // The encoder before issue #18's encoding work, same options otherwise: the encoding change as a same-run ratio.
                ("pipe prev-encoder", new TelemetryPipelineOptions { Encoder = PreviousJsonEncoder.Instance }),
                ("pipe inflight8", new TelemetryPipelineOptions { MaxBatchesInFlight = 8 }),
                ("pipe inflight16", new TelemetryPipelineOptions { MaxBatchesInFlight = 16 }),
                ("pipe pending64", new TelemetryPipelineOptions { MaxPendingBatches = 64 }),
                ("pipe linger0", new TelemetryPipelineOptions { Linger = TimeSpan.Zero }),
            }.Select(v => (v.Item1, bench.CreatePipeline(v.Item2, probe))).ToArray();
            try
            {
                var only = Environment.GetEnvironmentVariable("E2E_ONLY");
                var methods = new (string Name, int Records, Func<Task> Run)[]
                {
                    ("per-record", EndToEndBenchmarks.PerRecordCount, bench.PerRecord),
                    ("hand-batched", EndToEndBenchmarks.RecordCount, bench.HandBatched),
                    ("pre-encoded", EndToEndBenchmarks.RecordCount, bench.HandBatchedPreEncoded),
                    ("pipeline", EndToEndBenchmarks.RecordCount, bench.Pipeline),
                    ("pipe inflight1", EndToEndBenchmarks.RecordCount, bench.PipelineOneInFlight),
                }.Concat(variants.Select(v => (v.Item1, EndToEndBenchmarks.RecordCount, (Func<Task>)(() => bench.RunAsync(v.Item2)))))
                 .Where(m => only is null || m.Item1.StartsWith(only, StringComparison.Ordinal) || (only == "fast" && m.Item1 != "per-record"))
                 .Select(m => (Name: m.Item1, Records: m.Item2, Run: m.Item3))
                 .ToArray();
                var samples = methods.Select(_ => new List<double>()).ToArray();
                var cpuSamples = methods.Select(_ => new List<double>()).ToArray();
                var brokerCpuSamples = methods.Select(_ => new List<double>()).ToArray();
                var workItemSamples = methods.Select(_ => new List<double>()).ToArray();
                var switchSamples = methods.Select(_ => new List<double>()).ToArray();
                // Round-robin, so load from other users of the machine hits every method alike.
                for (int round = 0; round <= rounds; round++)
                {
                    for (int m = 0; m < methods.Length; m++)
                    {
                        probe.Reset();
                        var self = System.Diagnostics.Process.GetCurrentProcess();
                        var cpu0 = self.TotalProcessorTime;
                        var brokerCpu0 = bench.BrokerProcessCpu;
                        long workItems0 = ThreadPool.CompletedWorkItemCount, switches0 = ContextSwitches();
                        var watch = System.Diagnostics.Stopwatch.StartNew();
                        await methods[m].Run();
                        var ns = watch.Elapsed.TotalNanoseconds / methods[m].Records;
                        self.Refresh();
                        var cpu = (self.TotalProcessorTime - cpu0).TotalNanoseconds / methods[m].Records;
                        var brokerCpu = (bench.BrokerProcessCpu - brokerCpu0).TotalNanoseconds / methods[m].Records;
                        // Per 512 records: one message of every row.
                        double messages = methods[m].Records / 512.0;
                        double workItems = (ThreadPool.CompletedWorkItemCount - workItems0) / messages;
                        double switches = (ContextSwitches() - switches0) / messages;
                        if (round > 0)
                        {
                            samples[m].Add(ns); // round 0 warms up
                            cpuSamples[m].Add(cpu);
                            brokerCpuSamples[m].Add(brokerCpu);
                            workItemSamples[m].Add(workItems);
                            switchSamples[m].Add(switches);
                        }
                        Console.WriteLine($"{broker,-10} {methods[m].Name,-14} {ns,10:N0} ns/record  {1e9 / ns,12:N0} records/s  cpu {cpu,7:N0} ns/record here + {brokerCpu,7:N0} in mosquitto  {workItems,5:N1} work items {switches,5:N1} switches/msg  {probe}");
                    }
                }
                for (int m = 0; m < methods.Length; m++)
                {
                    var sorted = samples[m].Order().ToArray();
                    if (sorted.Length == 0) continue;
                    Console.WriteLine($"SUMMARY {broker,-10} {methods[m].Name,-14} median {sorted[sorted.Length / 2],8:N0} ns/record  min {sorted[0],8:N0}  ({1e9 / sorted[sorted.Length / 2],10:N0} records/s)  mean cpu {cpuSamples[m].Average(),6:N0} ns/record here + {brokerCpuSamples[m].Average(),6:N0} in mosquitto  per message {workItemSamples[m].Average(),5:N1} work items, {switchSamples[m].Average(),5:N1} context switches");
                }
            }
            finally
            {
                foreach (var (_, pipeline) in variants) await pipeline.DisposeAsync();
                bench.Cleanup();
            }
        }
    }
}

/// <summary>Counts what the pipeline hands the transport and how long the transport is busy.</summary>
internal sealed class SendProbe
{
    private long _messages, _records, _busyTicks;

    public void Reset() => _messages = _records = _busyTicks = 0;

    public ITelemetryTransport Wrap(ITelemetryTransport inner) => new Probed(inner, this);

    public override string ToString() => _messages == 0 ? "" :
        $"[{_messages} messages, {(double)_records / _messages:N0} records each, send time summed {System.Diagnostics.Stopwatch.GetElapsedTime(0, _busyTicks).TotalMilliseconds:N1} ms]";

    private sealed class Probed(ITelemetryTransport inner, SendProbe probe) : ITelemetryTransport
    {
        public TelemetryTransportLimits Limits => inner.Limits;

        public async ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            await inner.SendAsync(batch, cancellationToken).ConfigureAwait(false);
            // Several batches may be in flight at once, so the counters are shared and busy time is summed over sends.
            Interlocked.Add(ref probe._busyTicks, System.Diagnostics.Stopwatch.GetTimestamp() - start);
            Interlocked.Increment(ref probe._messages);
            Interlocked.Add(ref probe._records, batch.RecordCount);
        }

        public bool IsTransient(Exception exception) => inner.IsTransient(exception);
    }
}
