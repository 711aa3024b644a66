using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk.Cli.Simulation;

/// <summary>What a simulation run measured.</summary>
internal sealed record SimulationSummary
{
    public required int Devices { get; init; }
    public required int Connected { get; init; }
    public required int PeakConnected { get; init; }
    public required int Failed { get; init; }
    public required double SecondsToConnectAll { get; init; }
    public required long Connects { get; init; }
    public required long RecordsSent { get; init; }
    public required long BadRecordsSent { get; init; }
    public required long Drops { get; init; }
    public required long Reconnects { get; init; }
    public required long ConnectionsLost { get; init; }
    public required int SilentDevices { get; init; }
    public required double RunSeconds { get; init; }
    public string? FirstError { get; init; }
}

/// <summary>
/// Connects a fleet of <see cref="SimulatedDevice"/>s and drives it from one scheduler loop: records at the fleet rate,
/// keep-alive pings, and the injected faults (cut connections, silent devices, malformed records). Connection attempts run
/// at most <see cref="SimulationOptions.ConnectConcurrency"/> at a time with jittered retries, each device bounded by
/// <see cref="SimulationOptions.ConnectTimeout"/>.
/// </summary>
internal sealed class FleetSimulator
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);
    private static readonly byte[] BadRecord = "[{\"d\":\"broken"u8.ToArray();

    private readonly SimulationOptions _options;
    private readonly SimulationTarget _target;
    private readonly IReadOnlyList<SimulatedDevice> _devices;
    private readonly SimulatedDevice[] _senders;
    private readonly SemaphoreSlim _connectSlots;
    private readonly Random _random;
    private readonly RemoteCertificateValidationCallback _validateServer;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentBag<Task> _reconnecting = [];
    private readonly ConcurrentBag<Task> _watchers = [];
    private CancellationToken _stopping;
    private volatile bool _closing;
    private long _connects, _records, _badRecords, _drops, _reconnects, _lost;
    private int _connected, _peakConnected, _failed;
    private long _allConnectedTicks = -1;
    private long _runStartTicks = -1;
    private string? _firstError;

    public FleetSimulator(SimulationOptions options, SimulationTarget target, IReadOnlyList<SimulatedDevice> devices)
    {
        _options = options;
        _target = target;
        _devices = devices;
        _senders = devices.Where(d => !d.Silent).ToArray();
        _connectSlots = new SemaphoreSlim(options.ConnectConcurrency, options.ConnectConcurrency);
        _random = new Random(options.Seed);
        _validateServer = ValidateServer;
    }

    /// <summary>Live counters for the progress line.</summary>
    public (long Connects, int Connected, long Records, int Failed) Counters =>
        (Interlocked.Read(ref _connects), Volatile.Read(ref _connected), Interlocked.Read(ref _records), Volatile.Read(ref _failed));

    /// <summary>Chooses silent devices (before construction, by the caller) and which devices get cut, and when.</summary>
    public static bool[] Pick(int devices, double percent, Random random)
    {
        var count = (int)Math.Round(devices * percent / 100, MidpointRounding.AwayFromZero);
        var picked = new bool[devices];
        foreach (var i in Enumerable.Range(0, devices).OrderBy(_ => random.Next()).Take(count)) picked[i] = true;
        return picked;
    }

    /// <summary>Connects every device, runs for the duration, closes every connection and reports.</summary>
    public async Task<SimulationSummary> RunAsync(CancellationToken cancellationToken)
    {
        _stopping = cancellationToken;
        var drop = Pick(_devices.Count, _options.DropPercent, _random);
        // Cuts happen in the first half of the run, so every cut device has time to come back before the end.
        for (var i = 0; i < _devices.Count; i++)
        {
            if (drop[i]) _devices[i].DropAt = -2;
        }

        using var loopStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loop = SchedulerLoopAsync(loopStop.Token);

        await Parallel.ForEachAsync(_devices, new ParallelOptions { MaxDegreeOfParallelism = _options.ConnectConcurrency, CancellationToken = cancellationToken },
            async (device, ct) => await ConnectWithRetriesAsync(device, reconnect: false, ct).ConfigureAwait(false)).ConfigureAwait(false);
        var started = _clock.ElapsedTicks;
        foreach (var device in _devices.Where(d => d.DropAt == -2))
            device.DropAt = started + (long)(_random.NextDouble() * _options.Duration.TotalSeconds / 2 * Stopwatch.Frequency);
        // From here the loop sends records.
        Interlocked.Exchange(ref _runStartTicks, started);

        try
        {
            await Task.Delay(_options.Duration, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _closing = true;
            await loopStop.CancelAsync().ConfigureAwait(false);
            await loop.ConfigureAwait(false);
        }
        // Reconnects still under way end within their connect timeout; wait for them so the counts are final.
        await Task.WhenAll(_reconnecting).WaitAsync(_options.ConnectTimeout + TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
        var connected = Volatile.Read(ref _connected);
        var runSeconds = (double)(_clock.ElapsedTicks - started) / Stopwatch.Frequency;
        await Parallel.ForEachAsync(_devices, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (d, _) => await d.CloseAsync().ConfigureAwait(false)).ConfigureAwait(false);
        // Every watcher ends once its stream is closed; bounded all the same.
        await Task.WhenAll(_watchers).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);

        return new SimulationSummary
        {
            Devices = _devices.Count,
            Connected = connected,
            PeakConnected = Volatile.Read(ref _peakConnected),
            Failed = Volatile.Read(ref _failed),
            SecondsToConnectAll = _allConnectedTicks < 0 ? -1 : (double)_allConnectedTicks / Stopwatch.Frequency,
            Connects = Interlocked.Read(ref _connects),
            RecordsSent = Interlocked.Read(ref _records),
            BadRecordsSent = Interlocked.Read(ref _badRecords),
            Drops = Interlocked.Read(ref _drops),
            Reconnects = Interlocked.Read(ref _reconnects),
            ConnectionsLost = Interlocked.Read(ref _lost),
            SilentDevices = _devices.Count - _senders.Length,
            RunSeconds = runSeconds,
            FirstError = _firstError,
        };
    }

    private async Task ConnectWithRetriesAsync(SimulatedDevice device, bool reconnect, CancellationToken cancellationToken)
    {
        var deadline = _clock.Elapsed + _options.ConnectTimeout;
        var attempt = 0;
        device.Set(DeviceLinkState.Connecting);
        while (!_closing || !reconnect)
        {
            await _connectSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                bound.CancelAfter(Max(TimeSpan.FromSeconds(1), Min(TimeSpan.FromSeconds(30), deadline - _clock.Elapsed)));
                await device.ConnectAsync(_target, _options.KeepAliveSeconds, _validateServer, bound.Token).ConfigureAwait(false);
                device.LastSent = _clock.ElapsedTicks;
                device.Set(DeviceLinkState.Connected);
                Interlocked.Increment(ref _connects);
                if (reconnect) Interlocked.Increment(ref _reconnects);
                var now = Interlocked.Increment(ref _connected);
                InterlockedMax(ref _peakConnected, now);
                if (now == _devices.Count) Interlocked.CompareExchange(ref _allConnectedTicks, _clock.ElapsedTicks, -1);
                _watchers.Add(device.WatchAsync(OnLost));
                return;
            }
            catch (Exception ex) when (ex is IOException or SocketException or System.Security.Authentication.AuthenticationException or OperationCanceledException or IoTException or ObjectDisposedException
                && !cancellationToken.IsCancellationRequested)
            {
                Interlocked.CompareExchange(ref _firstError, $"{device.Id}: {ex.GetType().Name}: {ex.Message}", null);
                if (ex is IoTException { Kind: IoTErrorKind.Authentication } || _clock.Elapsed >= deadline) break;
            }
            finally
            {
                _connectSlots.Release();
            }
            // Jittered back-off, growing to 2 s: a refused crowd does not come back in step.
            attempt++;
            var wait = TimeSpan.FromMilliseconds(Random.Shared.Next(100, 200) * Math.Min(attempt, 10));
            await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
        }
        if (reconnect && _closing)
        {
            device.Set(DeviceLinkState.Closed);
            return;
        }
        device.Set(DeviceLinkState.Failed);
        Interlocked.Increment(ref _failed);
    }

    // Called once per connection, by its watcher, whoever closed it.
    private void OnLost(SimulatedDevice device)
    {
        if (!device.TryMove(DeviceLinkState.Connected, DeviceLinkState.Lost)) return;
        Interlocked.Decrement(ref _connected);
        if (_closing) return;
        Interlocked.Increment(ref _lost);
        _reconnecting.Add(Task.Run(() => ConnectWithRetriesAsync(device, reconnect: true, _stopping)));
    }

    /// <summary>The one loop that sends for every device: records at the fleet rate, cuts, and keep-alive pings.</summary>
    private async Task SchedulerLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Tick);
        var budget = 0.0;
        var next = 0;
        var pingCursor = 0;
        var last = _clock.ElapsedTicks;
        var idleLimit = Stopwatch.Frequency * _options.KeepAliveSeconds / 2;
        var buffer = new ArrayBufferWriter<byte>(256);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var now = _clock.ElapsedTicks;
                var runStart = Interlocked.Read(ref _runStartTicks);
                var running = runStart >= 0;
                if (running && _senders.Length > 0)
                {
                    budget += _options.Rate * (now - Math.Max(last, runStart)) / Stopwatch.Frequency;
                    // Devices that are not connected are skipped; a tick never scans the fleet more than once.
                    for (var scanned = 0; budget >= 1 && scanned < _senders.Length; scanned++)
                    {
                        var device = _senders[next];
                        next = (next + 1) % _senders.Length;
                        if (device.State != DeviceLinkState.Connected) continue;
                        var bad = _options.BadRecordPercent > 0 && _random.NextDouble() * 100 < _options.BadRecordPercent;
                        var payload = bad ? BadRecord : Encode(buffer, device.Id, now);
                        if (await TrySendAsync(device, MqttWire.Publish(device.Topic, payload), cancellationToken).ConfigureAwait(false))
                        {
                            Interlocked.Increment(ref _records);
                            if (bad) Interlocked.Increment(ref _badRecords);
                        }
                        budget--;
                    }
                    // A fleet with too few connected devices does not bank a burst for later.
                    budget = Math.Min(budget, Math.Max(1, _options.Rate));
                }
                last = now;
                if (running)
                {
                    foreach (var device in _devices)
                    {
                        if (device.DropAt >= 0 && device.DropAt <= now && device.State == DeviceLinkState.Connected)
                        {
                            device.DropAt = -1;
                            Interlocked.Increment(ref _drops);
                            device.Abort();
                        }
                    }
                }
                // Keep-alive: a slice of the fleet per tick, so the whole fleet is checked every 5 s.
                var slice = Math.Max(1, _devices.Count / 50);
                for (var k = 0; k < slice && _devices.Count > 0; k++)
                {
                    var device = _devices[pingCursor];
                    pingCursor = (pingCursor + 1) % _devices.Count;
                    if (device.State == DeviceLinkState.Connected && now - device.LastSent > idleLimit)
                        await TrySendAsync(device, MqttWire.PingRequest, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task<bool> TrySendAsync(SimulatedDevice device, byte[] packet, CancellationToken cancellationToken)
    {
        try
        {
            await device.SendAsync(packet, cancellationToken).ConfigureAwait(false);
            device.LastSent = _clock.ElapsedTicks;
            return true;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // The watcher reports the loss and starts the reconnect.
            device.Abort();
            return false;
        }
    }

    private static byte[] Encode(ArrayBufferWriter<byte> buffer, string deviceId, long ticks)
    {
        buffer.ResetWrittenCount();
        TelemetryJson.WriteBatch(buffer, [new TelemetryRecord(deviceId, "temperature", 20 + ticks % 1000 / 100.0, DateTimeOffset.UtcNow)]);
        return buffer.WrittenSpan.ToArray();
    }

    // The handshake built the server's chain against the target's trust root only (SimulatedDevice sets the chain policy), so
    // any chain error means it does not chain to that root; the name must match too.
    private static bool ValidateServer(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        certificate is not null && errors == SslPolicyErrors.None;

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current) return;
            current = seen;
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
