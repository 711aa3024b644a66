using System.Globalization;

namespace FleetHealthSample;

/// <summary>The sample's command line: <c>--seconds N</c> (6-600, default 15) and <c>--devices N</c> (10-200, default 12).</summary>
public sealed record FleetHealthOptions
{
    /// <summary>How long the simulation runs; the faults start a third of the way in.</summary>
    public int Seconds { get; init; } = 15;

    /// <summary>Simulated devices; at least 10 so the four faulty ones are a minority.</summary>
    public int Devices { get; init; } = 12;

    /// <summary>Parses the arguments.</summary>
    /// <exception cref="ArgumentException">An unknown argument or a value out of range; the message says which.</exception>
    public static FleetHealthOptions Parse(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new FleetHealthOptions();
        for (var i = 0; i < args.Length; i++)
        {
            options = args[i] switch
            {
                "--seconds" => options with { Seconds = Value(args, ++i, "--seconds", 6, 600) },
                "--devices" => options with { Devices = Value(args, ++i, "--devices", 10, 200) },
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'. Usage: FleetHealth [--seconds 6-600] [--devices 10-200]"),
            };
        }
        return options;
    }

    private static int Value(string[] args, int i, string name, int min, int max)
    {
        if (i >= args.Length || !int.TryParse(args[i], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw new ArgumentException($"{name} takes a whole number from {min} to {max}.");
        return value;
    }
}
