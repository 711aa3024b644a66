using FleetHealthSample;
using Spectre.Console;

// A live fleet health dashboard: a simulated fleet on the embedded Local provider in which, a third of the way in, two
// devices fall silent while staying connected, one disconnects and one starts to drift; the summary refreshes every second.
FleetHealthOptions options;
try
{
    options = FleetHealthOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}
// The simulation ends by itself after --seconds; this bound only guards a hang in start-up or shutdown.
using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(options.Seconds + 60));
var report = await FleetHealthDemo.RunAsync(options, AnsiConsole.Console, bound.Token);
return report.Detected ? 0 : 1;
