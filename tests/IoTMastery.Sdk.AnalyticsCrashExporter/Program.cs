// A child process for the Analytics crash test: an exporter whose spool the test filled beforehand (the records a
// previous exporter spooled and did not export) writes it to a local lake and is SIGKILLed mid-stream.
//   args: <spool dir> <lake dir> <records per file> <mode>
//   mode "run":            RunAsync on a channel that stays silent, so only the spool's records are exported, until
//                          killed, printing "written <key>" after each durable file.
//   mode "hang-after=N":   like run, but after the N-th file is written it stops before acknowledging the batch,
//                          so a kill lands exactly in the window between a durable file and its acknowledgement.
//   mode "drain":          export everything pending, print "drained <count>", exit 0.
using System.Globalization;
using System.Runtime.CompilerServices;
using IoTMastery.Sdk;
using IoTMastery.Sdk.Analytics;

var outboxDirectory = args[0];
var lake = ILakeSink.Directory(args[1]);
int perFile = int.Parse(args[2], CultureInfo.InvariantCulture);
string mode = args[3];
int hangAfter = mode.StartsWith("hang-after=", StringComparison.Ordinal) ? int.Parse(mode["hang-after=".Length..], CultureInfo.InvariantCulture) : int.MaxValue;

using var exporter = new TelemetryLakeExporter(new ReportingSink(lake, hangAfter), new LakeExportOptions
{
    MaxRecordsPerFile = perFile,
    RowGroupRecords = Math.Min(perFile, 1000),
    FlushInterval = TimeSpan.FromMilliseconds(10),
    Spool = new TelemetryOutboxOptions { Directory = outboxDirectory, MaxDiskBytes = 1L << 30 },
});
Console.Out.Flush();
if (mode == "drain")
{
    long drained = await exporter.ExportPendingAsync();
    Console.WriteLine($"drained {drained}");
    return 0;
}
Console.WriteLine("started");
await exporter.RunAsync(new SilentChannel(), CancellationToken.None);
return 0;

/// <summary>A channel that yields nothing until cancelled: the export works only on what is already spooled.</summary>
internal sealed class SilentChannel : ITelemetryChannel
{
    public async IAsyncEnumerable<TelemetryRecord> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        yield break;
    }
}

/// <summary>The real local sink, plus a line on stdout after each durable write so the test knows where to kill.</summary>
internal sealed class ReportingSink(ILakeSink inner, int hangAfter) : ILakeSink
{
    private int _written;

    public string Description => inner.Description;

    public async Task WriteAsync(string key, Stream content, CancellationToken cancellationToken)
    {
        await inner.WriteAsync(key, content, cancellationToken);
        Console.WriteLine($"written {key}");
        if (++_written >= hangAfter)
        {
            Console.WriteLine("hanging");
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
    }
}
