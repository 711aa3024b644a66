using System.Globalization;
using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk.Cli.Simulation;

/// <summary>What <c>iotm simulate</c> runs: fleet size, record rate, run time and the faults to inject.</summary>
internal sealed record SimulationOptions
{
    /// <summary>Most simulated devices one process takes (each is a socket: the file-descriptor limit is the real bound).</summary>
    public const int MaxDevices = 100_000;

    public required int Devices { get; init; }

    /// <summary>Telemetry records per second across the whole fleet, spread round-robin over the devices that are not silent.</summary>
    public required double Rate { get; init; }

    /// <summary>How long records are sent once every device has connected or given up.</summary>
    public required TimeSpan Duration { get; init; }

    /// <summary>Percent of devices whose connection is cut once during the run; they reconnect.</summary>
    public double DropPercent { get; init; }

    /// <summary>Percent of devices that stay connected but send no records (keep-alive pings only).</summary>
    public double SilentPercent { get; init; }

    /// <summary>Percent of records sent as malformed JSON.</summary>
    public double BadRecordPercent { get; init; }

    /// <summary>How long one device may take to connect (or reconnect), retries included, before it counts as failed.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Connection attempts in flight at once.</summary>
    public int ConnectConcurrency { get; init; } = 32;

    /// <summary>Seeds the choice of silent and dropped devices, drop times and bad records, so a run can be repeated.</summary>
    public int Seed { get; init; }

    /// <summary>The MQTT keep-alive the devices announce; the loop pings a device idle for half of it.</summary>
    public ushort KeepAliveSeconds { get; init; } = 60;

    public void Validate()
    {
        if (Devices is < 1 or > MaxDevices)
            throw new ArgumentOutOfRangeException("--devices", Devices, $"--devices must be 1 to {MaxDevices.ToString("N0", CultureInfo.InvariantCulture)}.");
        if (!double.IsFinite(Rate) || Rate < 0 || Rate > 1_000_000)
            throw new ArgumentOutOfRangeException("--rate", Rate, "--rate must be 0 to 1,000,000 records per second across the fleet.");
        if (Duration < TimeSpan.Zero || Duration > TimeSpan.FromDays(1))
            throw new ArgumentOutOfRangeException("--duration", Duration, "--duration must be 0 to 24 h.");
        CheckPercent(DropPercent, "--drop-percent");
        CheckPercent(SilentPercent, "--silent-percent");
        CheckPercent(BadRecordPercent, "--bad-record-percent");
        if (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > TimeSpan.FromHours(1))
            throw new ArgumentOutOfRangeException("--connect-timeout", ConnectTimeout, "--connect-timeout must be positive and at most 1 h.");
        if (ConnectConcurrency is < 1 or > 10_000)
            throw new ArgumentOutOfRangeException("--connect-concurrency", ConnectConcurrency, "--connect-concurrency must be 1 to 10,000.");
    }

    private static void CheckPercent(double value, string option)
    {
        if (!double.IsFinite(value) || value is < 0 or > 100)
            throw new ArgumentOutOfRangeException(option, value, $"{option} must be 0 to 100.");
    }
}

/// <summary>Where the devices connect: plain MQTT, or mutual TLS to a broker whose certificate chains to <see cref="TrustRoot"/>.</summary>
internal sealed record SimulationTarget(string Host, int Port, X509Certificate2? TrustRoot)
{
    /// <summary>Parses <c>host:port</c> (the host a name, an IPv4 address or a bracketed IPv6 address).</summary>
    public static (string Host, int Port) ParseHostPort(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1
            || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            throw new ArgumentException($"--broker takes host:port with a port of 1-65535; '{text}' is not.", "--broker");
        var host = text[..colon].Trim('[', ']');
        if (host.Length == 0 || host.Any(char.IsWhiteSpace))
            throw new ArgumentException($"--broker has no valid host in '{text}'.", "--broker");
        return (host, port);
    }
}
