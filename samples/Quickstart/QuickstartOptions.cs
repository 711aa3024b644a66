using System.Globalization;

namespace Quickstart;

/// <summary>Command-line options: <c>--devices N</c> and <c>--db PATH</c>.</summary>
internal sealed record QuickstartOptions(int Devices, string? DatabasePath)
{
    public const int MaxDevices = 500;

    public static QuickstartOptions Parse(string[] args)
    {
        int devices = 25;
        string? db = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--devices" when i + 1 < args.Length:
                    if (!int.TryParse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture, out devices) || devices is < 10 or > MaxDevices)
                        throw new ArgumentException($"--devices takes a whole number from 10 to {MaxDevices}.");
                    break;
                case "--db" when i + 1 < args.Length:
                    db = args[++i];
                    break;
                case "--help" or "-h":
                    throw new ArgumentException("usage: dotnet run --project samples/Quickstart [-- --devices N] [--db PATH]");
                default:
                    throw new ArgumentException($"Unknown option '{args[i]}'. Options: --devices N, --db PATH.");
            }
        }
        return new QuickstartOptions(devices, db);
    }
}
