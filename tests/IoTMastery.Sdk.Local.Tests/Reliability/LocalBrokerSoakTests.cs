using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using IoTMastery.Sdk.TestSupport;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Local.Tests.Reliability;

/// <summary>
/// Issue #7, broker faults, Local half: devices stream telemetry through their durable pipelines (outbox per device) over
/// mutual TLS to a Local provider in another process (<c>tests/IoTMastery.Sdk.LocalBrokerHost</c>, durable telemetry on),
/// which is SIGKILLed and restarted on the same database, journal and port at seeded random moments. Every record written
/// must be printed by some incarnation of the host, each copy with the device's sequence, one (device, sequence) being one
/// record, and the duplicates within the stated bound. CI runs 100,000 records; <c>IOTM_LONG=1</c> runs 1,000,000.
/// </summary>
public sealed class LocalBrokerSoakTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Devices = 4;
    private const int MaxBatchRecords = 512;
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ProgressTimeout = TimeSpan.FromSeconds(60);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("iotm-soak-");
    private readonly Lock _gate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<IDeviceConnection> _devices = [];
    private readonly List<Incarnation> _incarnations = [];
    private Dictionary<string, int[]> _copies = [];
    private readonly List<string> _anomalies = [];
    private long _distinct;
    private long _lines;
    private int _port;
    private Incarnation? _host;

    [Fact]
    public Task Every_record_of_100000_arrives_exactly_once_by_sequence_across_20_SIGKILLs_of_the_broker_process() =>
        SoakAsync(records: 100_000, kills: 20, seed: 20261126, stream: TimeSpan.FromSeconds(45), hangCap: TimeSpan.FromMinutes(10));

    [LongFact]
    public Task Every_record_of_1000000_arrives_exactly_once_by_sequence_across_SIGKILLs_long_variant() =>
        SoakAsync(records: 1_000_000, kills: 25, seed: 20261127, stream: TimeSpan.FromMinutes(4), hangCap: TimeSpan.FromMinutes(40));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_host is { } host) await host.KillAsync();
        try
        {
            await Task.WhenAll(_devices.Select(d => d.DisposeAsync().AsTask())).WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            // Teardown is best effort; the process ends soon anyway.
        }
        foreach (var incarnation in _incarnations) incarnation.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { _dir.Delete(recursive: true); }
        catch (IOException) { } // A leaked temp dir must not fail the test.
    }

    /// <param name="hangCap">Only a cap for a device flush that hangs; the soak's pace is bounded by <see cref="ProgressTimeout"/>, never by a total time.</param>
    private async Task SoakAsync(int records, int kills, int seed, TimeSpan stream, TimeSpan hangCap)
    {
        var random = new Random(seed); // the kill moments are random but reproducible
        int perDevice = records / Devices;
        var ids = Enumerable.Range(0, Devices).Select(i => $"soak-{i}").ToArray();
        _copies = ids.ToDictionary(id => id, _ => new int[perDevice + 1], StringComparer.Ordinal);
        string database = Path.Combine(_dir.FullName, "fleet.db");
        string journal = Path.Combine(_dir.FullName, "journal");

        // Registration once, through the same database the host then opens.
        var credentials = new Dictionary<string, IssuedCredential>(StringComparer.Ordinal);
        X509Certificate2 ca;
        await using (var setup = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = database }).WaitAsync(ReadyTimeout))
        {
            foreach (var id in ids)
                credentials[id] = (await setup.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 }).WaitAsync(ReadyTimeout)).Credential!;
            ca = X509CertificateLoader.LoadCertificate(setup.CertificateAuthority.RawData);
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _port = FreePort();

        var started = _clock.Elapsed;
        _host = await StartHostAsync(database, journal);

        var factory = new LocalDeviceConnectionFactory(() => new LocalDeviceEndpoint
        {
            Port = _port,
            CaCertificate = ca,
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        });
        foreach (var id in ids)
        {
            var device = factory.Create(new DeviceConnectionOptions
            {
                DeviceId = id,
                Credential = credentials[id],
                Telemetry = new TelemetryPipelineOptions
                {
                    Outbox = new TelemetryOutboxOptions { Directory = Path.Combine(_dir.FullName, "device-" + id) },
                    Encoder = TelemetryJsonEncoder.WithSequence,
                    MaxBatchRecords = MaxBatchRecords,
                    RetryBaseDelay = TimeSpan.FromMilliseconds(50),
                    RetryMaxDelay = TimeSpan.FromMilliseconds(500),
                    CircuitBreakerBreakDuration = TimeSpan.FromMilliseconds(500),
                    AttemptTimeout = TimeSpan.FromSeconds(10),
                },
            });
            _devices.Add(device);
            await device.ConnectAsync().WaitAsync(ReadyTimeout);
        }

        // Producers, paced so the stream lasts `stream` and every kill lands while devices write: record k of a device has
        // value k and (fresh outbox) device sequence k. The device outbox keeps writing while the broker is down.
        var streamStart = _clock.Elapsed;
        double perSecond = perDevice / stream.TotalSeconds;
        var producers = _devices.Select(device => Task.Run(async () =>
        {
            for (int k = 1; k <= perDevice; k++)
            {
                var due = streamStart + TimeSpan.FromSeconds(k / perSecond);
                if (due - _clock.Elapsed is { } ahead && ahead > TimeSpan.FromMilliseconds(5)) await Task.Delay(ahead);
                await device.SendTelemetryAsync(new TelemetryRecord(device.DeviceId, "level", k, DateTimeOffset.UnixEpoch.AddMilliseconds(k)));
            }
            await device.FlushAsync().WaitAsync(hangCap);
        })).ToArray();

        // Kill moments: one seeded instant in each of `kills` equal slices of 2 %..90 % of the stream's duration.
        var moments = Enumerable.Range(0, kills).Select(i => streamStart + stream * (0.02 + 0.88 * (i + random.NextDouble()) / kills)).ToArray();
        var restartToReady = new List<TimeSpan>();
        foreach (var moment in moments)
        {
            while (_clock.Elapsed < moment)
            {
                await FailFastAsync(producers);
                await Task.Delay(5);
            }
            var killed = _host!;
            // Prefer a broker under load: an incarnation still waiting for its devices gets up to 1.5 s more to start streaming.
            var grace = _clock.Elapsed + TimeSpan.FromMilliseconds(1500);
            while (!HasPrinted(killed) && _clock.Elapsed < grace && Interlocked.Read(ref _distinct) < records)
                await Task.Delay(5);
            killed.KilledAt = _clock.Elapsed;
            await killed.KillAsync();
            var restart = Stopwatch.StartNew();
            _host = await StartHostAsync(database, journal);
            restartToReady.Add(restart.Elapsed);
        }

        // Bounded by progress, not by a total: a busy machine delivers more slowly (the fast run took 127 s at load 35
        // with a CPU hog, against 47-52 s otherwise) but never stops delivering for ProgressTimeout unless something hangs.
        await UntilDistinctAsync(records, producers);
        await Task.WhenAll(producers).WaitAsync(ProgressTimeout);
        var duration = _clock.Elapsed - started;

        // Recovery: from a kill to the first record printed by the next incarnation (when it printed any).
        var recoveries = new List<TimeSpan>();
        for (int i = 0; i + 1 < _incarnations.Count; i++)
            if (_incarnations[i].KilledAt is { } killedAt && _incarnations[i + 1].FirstRecordAt is { } first)
                recoveries.Add(first - killedAt);
        recoveries.Sort();
        restartToReady.Sort();
        int streamingKills = _incarnations.Count(i => i.KilledAt is { } at && i.FirstRecordAt is { } first && first < at);

        long lines, distinct;
        List<string> anomalies;
        lock (_gate)
        {
            lines = _lines;
            distinct = _distinct;
            anomalies = [.. _anomalies];
        }
        long expected = (long)perDevice * Devices;
        long duplicates = lines - distinct;
        long lost = expected - distinct;
        // Per kill: the reader's unpersisted acknowledgements (one read chunk) plus, per device, the one batch whose PUBACK the kill cut off.
        long bound = (long)kills * (LocalTelemetryJournal.ReadChunk + Devices * MaxBatchRecords);
        output.WriteLine($"records sent {expected:N0} by {Devices} devices; delivered lines {lines:N0}; distinct {distinct:N0}; lost {lost:N0}; " +
            $"duplicates {duplicates:N0} (bound {bound:N0} = kills × ({LocalTelemetryJournal.ReadChunk} + {Devices} × {MaxBatchRecords})); kills {kills} " +
            $"({streamingKills} while the broker was delivering, {kills - streamingKills} before it had delivered anything since its restart); " +
            $"host incarnations {_incarnations.Count}; duration {duration.TotalSeconds:0.0} s ({expected / duration.TotalSeconds:N0} records/s).");
        output.WriteLine($"recovery (kill → first record of the next incarnation), {recoveries.Count} restarts that delivered: " +
            $"median {Median(recoveries).TotalMilliseconds:0} ms, max {(recoveries.Count > 0 ? recoveries[^1] : TimeSpan.Zero).TotalMilliseconds:0} ms; " +
            $"restart → broker listening: median {Median(restartToReady).TotalMilliseconds:0} ms, max {restartToReady[^1].TotalMilliseconds:0} ms.");
        output.WriteLine("per incarnation (records printed): " + string.Join(" ", _incarnations.Select(i => i.Printed)));

        Assert.True(anomalies.Count == 0, "malformed or foreign records: " + string.Join("; ", anomalies.Take(10)));
        Assert.Equal(0, lost);
        Assert.Equal(kills + 1, _incarnations.Count);
        Assert.True(duplicates <= bound, $"{duplicates} duplicates, over the bound of {bound}");
    }

    private async Task FailFastAsync(Task[] producers)
    {
        if (producers.FirstOrDefault(p => p.IsFaulted) is { } failed) await failed; // surfaces the producer's error
        Assert.False(_host!.Process.HasExited, $"the host exited on its own: {_host.StandardError}");
    }

    private async Task UntilDistinctAsync(long target, Task[] producers)
    {
        long last = -1;
        var lastProgress = _clock.Elapsed;
        while (Interlocked.Read(ref _distinct) < target)
        {
            long now = Interlocked.Read(ref _distinct);
            if (now != last)
            {
                last = now;
                lastProgress = _clock.Elapsed;
            }
            await FailFastAsync(producers);
            Assert.True(_clock.Elapsed - lastProgress < ProgressTimeout,
                $"no progress for {ProgressTimeout.TotalSeconds:0} s at {now:N0} of {target:N0} distinct records");
            await Task.Delay(5);
        }
    }

    private async Task<Incarnation> StartHostAsync(string database, string journal)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(HostPath());
        start.ArgumentList.Add(database);
        start.ArgumentList.Add(journal);
        start.ArgumentList.Add(_port.ToString(CultureInfo.InvariantCulture));
        var incarnation = new Incarnation(Process.Start(start)!);
        lock (_gate) _incarnations.Add(incarnation);
        incarnation.Pump = Task.Run(() => PumpAsync(incarnation));
        try
        {
            await incarnation.Ready.Task.WaitAsync(ReadyTimeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the host did not listen within {ReadyTimeout.TotalSeconds:0} s: {incarnation.StandardError}");
        }
        return incarnation;
    }

    /// <summary>Reads one incarnation's stdout to its end (the end comes with the kill), counting every copy of every record.</summary>
    private async Task PumpAsync(Incarnation incarnation)
    {
        var reader = incarnation.Process.StandardOutput;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("READY ", StringComparison.Ordinal))
            {
                incarnation.Ready.TrySetResult();
                continue;
            }
            var parts = line.Split(' ');
            lock (_gate)
            {
                _lines++;
                incarnation.Printed++;
                incarnation.FirstRecordAt ??= _clock.Elapsed;
                if (parts.Length != 4 || parts[0] != "R" || !_copies.TryGetValue(parts[1], out var copies)
                    || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int sequence) || sequence < 1 || sequence >= copies.Length
                    || !double.TryParse(parts[3], NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                {
                    if (_anomalies.Count < 100) _anomalies.Add(line);
                    continue;
                }
                if (value != sequence && _anomalies.Count < 100) _anomalies.Add($"{line} (value is not the record's)");
                if (copies[sequence]++ == 0) Interlocked.Increment(ref _distinct);
            }
        }
    }

    private bool HasPrinted(Incarnation incarnation)
    {
        lock (_gate) return incarnation.FirstRecordAt is not null;
    }

    private static TimeSpan Median(List<TimeSpan> sorted) => sorted.Count == 0 ? TimeSpan.Zero : sorted[sorted.Count / 2];

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string HostPath()
    {
        string path = typeof(LocalBrokerSoakTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "LocalBrokerHostPath").Value!;
        Assert.True(File.Exists(path), $"The broker host was not built at '{path}'.");
        return path;
    }

    /// <summary>One run of the host process, from start to SIGKILL.</summary>
    private sealed class Incarnation : IDisposable
    {
        private readonly System.Text.StringBuilder _stderr = new();

        public Incarnation(Process process)
        {
            Process = process;
            process.ErrorDataReceived += (_, e) =>
            {
                lock (_stderr) if (e.Data is not null && _stderr.Length < 8000) _stderr.AppendLine(e.Data);
            };
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Pump { get; set; } = Task.CompletedTask;

        public long Printed { get; set; }

        public TimeSpan? FirstRecordAt { get; set; }

        public TimeSpan? KilledAt { get; set; }

        public string StandardError
        {
            get { lock (_stderr) return _stderr.ToString(); }
        }

        /// <summary>SIGKILL (what <see cref="Process.Kill(bool)"/> sends on Linux), then reads what the pipe still holds.</summary>
        public async Task KillAsync()
        {
            try
            {
                Process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
            await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            await Pump.WaitAsync(TimeSpan.FromSeconds(15));
        }

        public void Dispose() => Process.Dispose();
    }
}
