using System.Diagnostics;
using System.Globalization;

namespace IoTMastery.Sdk.Cli.Simulation;

/// <summary>This process's resident memory: <c>/proc/self/status</c> on Linux (VmRSS now, VmHWM the peak), else the runtime's working set.</summary>
internal static class ProcessMemory
{
    /// <summary>Resident bytes now.</summary>
    public static long CurrentBytes() => Read("VmRSS:") ?? Environment.WorkingSet;

    /// <summary>The most resident bytes since the process started.</summary>
    public static long PeakBytes()
    {
        if (Read("VmHWM:") is { } peak) return peak;
        using var self = Process.GetCurrentProcess();
        return self.PeakWorkingSet64;
    }

    private static long? Read(string field)
    {
        const string status = "/proc/self/status";
        if (!OperatingSystem.IsLinux() || !File.Exists(status)) return null;
        foreach (var line in File.ReadLines(status))
        {
            if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
            // "VmRSS:	  123456 kB"
            var number = line.AsSpan(field.Length).Trim();
            var space = number.IndexOf(' ');
            if (space > 0 && long.TryParse(number[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var kb)) return kb * 1024;
        }
        return null;
    }
}
