using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// Registering devices with X.509 certificates (ECDSA P-256, issued by the local CA) on the Local provider with a SQLite
/// file: <see cref="IDeviceRegistry.RegisterManyAsync"/> against the one-by-one <see cref="IDeviceRegistry.RegisterAsync"/>
/// loop (the baseline) and the core's shared bounded-concurrency default that cloud providers without a bulk operation use.
/// Mean is per device (<c>OperationsPerInvoke</c>); devices/s = 1e9 / Mean(ns).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 5)]
public class BulkRegistrationBenchmarks
{
    private const int Devices = 1_000;
    private string _directory = "";
    private LocalIoTProvider _provider = null!;
    private int _run;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _directory = Path.Combine(Path.GetTempPath(), "iotm-bulk-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        _provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions
        {
            DatabasePath = Path.Combine(_directory, "registry.db"),
            CaKeyPassphrase = "benchmark-passphrase-not-a-secret",
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _provider.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    // Fresh ids every invocation: the registry keeps growing, as a real one does.
    private List<DeviceRegistration> NextFleet()
    {
        var run = Interlocked.Increment(ref _run);
        return Enumerable.Range(0, Devices)
            .Select(i => new DeviceRegistration { Id = $"b{run}-{i:D5}", Credential = CredentialRequest.X509 })
            .ToList();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Devices, Description = "RegisterAsync one by one (baseline)")]
    public async Task<int> OneByOne()
    {
        var n = 0;
        foreach (var registration in NextFleet())
        {
            await _provider.Registry.RegisterAsync(registration);
            n++;
        }
        return n;
    }

    [Benchmark(OperationsPerInvoke = Devices, Description = "shared default: RegisterAsync x8 concurrent")]
    public async Task<int> SharedDefault()
    {
        var result = await BulkRegistration.RegisterOneByOneAsync(_provider.Registry, NextFleet(), null, BulkRegistration.DefaultConcurrency, CancellationToken.None);
        return Check(result);
    }

    [Benchmark(OperationsPerInvoke = Devices, Description = "Local RegisterManyAsync")]
    public async Task<int> RegisterMany() => Check(await _provider.Registry.RegisterManyAsync(NextFleet()));

    private static int Check(IReadOnlyList<BulkRegistrationItem> result) =>
        result.FirstOrDefault(i => !i.Succeeded) is { } failed ? throw new InvalidOperationException(failed.Error!.Message) : result.Count;
}
