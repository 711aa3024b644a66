using System.Globalization;
using System.Text;
using IoTMastery.Sdk;
using IoTMastery.Sdk.Local;

// The fleet app of the Local broker soak test: a LocalIoTProvider with durable telemetry on a given database and journal,
// listening on a fixed port, printing every record it reads. The test kills it with SIGKILL at random moments.
// Usage: LocalBrokerHost <database file> <journal directory> <port>
// Prints "READY <port>" once the broker listens, then "R <device> <sequence or -> <value>" per record.
if (args.Length != 3 || !int.TryParse(args[2], NumberStyles.None, CultureInfo.InvariantCulture, out int port))
{
    Console.Error.WriteLine("usage: LocalBrokerHost <database file> <journal directory> <port>");
    return 2;
}

// Exits when the test process goes away (stdin closes), so a crashed test run leaves no broker behind.
_ = Task.Run(() =>
{
    Console.In.ReadToEnd();
    Environment.Exit(3);
});

await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions
{
    DatabasePath = args[0],
    Port = port,
    TelemetryJournal = new TelemetryOutboxOptions { Directory = args[1] },
});
var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 64 * 1024);
output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"READY {provider.Port}"));
output.Flush();
await foreach (var record in provider.Telemetry.ReadAllAsync())
{
    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"R {record.DeviceId} {(record.Sequence is { } s ? s.ToString(CultureInfo.InvariantCulture) : "-")} {record.Value}"));
    // Flushed before asking for the next record, which acknowledges this one: printed is processed.
    output.Flush();
}
return 0;
