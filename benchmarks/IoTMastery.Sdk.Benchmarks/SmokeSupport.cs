using System.Diagnostics;
using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>A Local provider on a SQLite file in a fresh temporary folder, which is deleted with it: what the registration and connect smokes run against.</summary>
internal sealed class FileProvider : IAsyncDisposable
{
    private readonly string _directory;

    private FileProvider(string directory, LocalIoTProvider provider)
    {
        _directory = directory;
        Provider = provider;
    }

    public LocalIoTProvider Provider { get; }

    public static async Task<FileProvider> StartAsync(string name)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"iotm-{name}-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions
            {
                DatabasePath = Path.Combine(directory, "registry.db"),
                CaKeyPassphrase = "benchmark-passphrase-not-a-secret",
            }).ConfigureAwait(false);
            return new FileProvider(directory, provider);
        }
        catch
        {
            Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Provider.DisposeAsync().ConfigureAwait(false);
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>Wall and process CPU time of a piece of work, and the machine's load average, for the stopwatch smokes.</summary>
internal static class SmokeClock
{
    /// <summary>Runs <paramref name="run"/>; returns its wall time and the CPU time of the whole process (all threads) meanwhile, in ns.</summary>
    public static async Task<(double WallNs, double CpuNs)> TimeAsync(Func<Task> run)
    {
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var start = Stopwatch.GetTimestamp();
        await run().ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(start);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        return (elapsed.TotalNanoseconds, cpu.TotalNanoseconds);
    }

    /// <summary>The 1, 5 and 15 minute load averages.</summary>
    public static string Load() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
