using System.Collections.Concurrent;
using System.Diagnostics;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Local.Tests.Reliability;

/// <summary>
/// Issue #12, item 7: a whole fleet calls <see cref="IDeviceConnection.ConnectAsync"/> at the same instant against the real
/// Local provider, with default options. Every device must end up connected; how long it took is reported, never asserted
/// (the machine is shared). CI runs 1,000 devices; <c>IOTM_LONG=1</c> runs 2,000 (figures in docs/RELIABILITY.md).
/// </summary>
public sealed class ConnectStormTests(ITestOutputHelper output)
{
    // A safety net against a hang, not a speed requirement.
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(5);

    [Fact]
    public Task A_fleet_of_1000_connecting_at_once_all_connect_with_default_options() => StormAsync(1000);

    [LongFact]
    public Task A_fleet_of_2000_connecting_at_once_all_connect_with_default_options_long_variant() => StormAsync(2000);

    private async Task StormAsync(int count)
    {
        // Counts what the broker and the devices logged (admission refusals, failed attempts and why) to explain the figure.
        var events = new EventCounter();
        await using var provider = await LocalIoTProvider.StartAsync(loggerFactory: events).WaitAsync(TimeSpan.FromSeconds(30));
        var ids = Enumerable.Range(0, count).Select(i => $"crowd-{i:0000}").ToArray();

        // Registration is not under test, but its cost is part of the figure: key generation runs outside the registry's
        // write lock, so two registrations at a time use both cores.
        var registering = Stopwatch.StartNew();
        var credentials = new ConcurrentDictionary<string, IssuedCredential>();
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (id, ct) =>
        {
            var result = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 }, ct);
            credentials[id] = result.Credential!;
        }).WaitAsync(Safety);
        output.WriteLine($"{count} devices registered in {registering.Elapsed.TotalSeconds:0.0} s.");

        var devices = ids.Select(id => provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = credentials[id] })).ToArray();
        var failures = new ConcurrentQueue<Exception>();
        try
        {
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var connecting = Stopwatch.StartNew();
            // All at once: no client-side gate, the broker and the devices' own backoff must cope.
            await Task.WhenAll(devices.Select(async device =>
            {
                try { await device.ConnectAsync(); }
                catch (Exception ex) { failures.Enqueue(ex); }
            })).WaitAsync(Safety);
            var elapsed = connecting.Elapsed;
            // CPU time of this process (broker and devices) is the figure the machine's load does not distort.
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            var connected = devices.Count(d => d.IsConnected);
            output.WriteLine($"{connected} of {count} devices connected {elapsed.TotalSeconds:0.0} s after all called ConnectAsync at once, " +
                $"using {cpu.TotalSeconds:0.0} s of CPU ({cpu.TotalMilliseconds / Math.Max(1, connected):0.0} ms per connected device); load average {LoadAverage()}.");
            foreach (var (name, n) in events.Counts.Where(c => c.Value > 0).OrderByDescending(c => c.Value).Take(12))
                output.WriteLine($"  logged {n}×: {name}");
            foreach (var group in failures.GroupBy(f => f is IoTException iot ? $"{iot.GetType().Name} {iot.ErrorCode} transient={iot.IsTransient}" : f.GetType().Name))
                output.WriteLine($"  {group.Count()} failed: {group.Key}, e.g. {group.First().Message}");

            Assert.Empty(failures);
            Assert.Equal(count, connected);
        }
        finally
        {
            await Task.WhenAll(devices.Select(d => d.DisposeAsync().AsTask())).WaitAsync(TimeSpan.FromMinutes(2));
        }
    }

    /// <summary>Counts log events by category and message template; keeps nothing else (2,000 devices log a lot).</summary>
    private sealed class EventCounter : ILoggerFactory, ILoggerProvider
    {
        public ConcurrentDictionary<string, int> Counts { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Counter(categoryName[(categoryName.LastIndexOf('.') + 1)..], Counts);

        public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

        public void Dispose() { }

        private sealed class Counter(string category, ConcurrentDictionary<string, int> counts) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (state is not IEnumerable<KeyValuePair<string, object?>> pairs) return;
                var values = pairs.ToDictionary(p => p.Key, p => p.Value);
                var key = $"{logLevel} {category}: {values.GetValueOrDefault("{OriginalFormat}")}";
                // Failed attempts and refusals are told apart by their code or reason, not only by their template.
                if ((values.GetValueOrDefault("ErrorCode") ?? values.GetValueOrDefault("Reason")) is { } detail) key += $" [{detail}]";
                counts.AddOrUpdate(key, 1, (_, n) => n + 1);
            }
        }
    }

    // The figure is only meaningful with the machine's load beside it (other engineers share the two cores).
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
