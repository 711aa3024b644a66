// Appends records to an outbox until killed, printing each sequence number once Append has returned
// (i.e. once the record is accepted). Usage: <directory> [fsync interval: off | milliseconds, 0 = every append; default 100]
// Every record's value equals its sequence number, so the crash test can check content as well as presence.
// Second mode, "pipeline": see PipelineMode.cs.
using IoTMastery.Sdk;
using IoTMastery.Sdk.OutboxCrashProducer;

if (args.Length > 0 && args[0] == "pipeline") return await PipelineMode.RunAsync(args[1..]);
if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine("usage: IoTMastery.Sdk.OutboxCrashProducer <directory> [off|<fsync interval in ms>]");
    return 2;
}

TimeSpan? fsyncInterval = args.Length < 2 ? new TelemetryOutboxOptions { Directory = args[0] }.FsyncInterval
    : args[1] == "off" ? null : TimeSpan.FromMilliseconds(long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture));
using var outbox = TelemetryOutbox.Open(new TelemetryOutboxOptions
{
    Directory = args[0],
    SegmentBytes = 64 * 1024, // small segments so kills also land around segment rolls
    FsyncInterval = fsyncInterval,
});
var stdout = Console.Out;
var batch = new TelemetryRecord[5];
long next = outbox.LastSequence + 1;
for (long round = 0; ; round++)
{
    if (round % 3 == 0)
    {
        for (int i = 0; i < batch.Length; i++) batch[i] = Make(next + i);
        long last = outbox.AppendBatch(batch);
        for (long s = next; s <= last; s++) stdout.WriteLine(s);
        next = last + 1;
    }
    else
    {
        long sequence = outbox.Append(Make(next));
        stdout.WriteLine(sequence);
        next = sequence + 1;
    }
    stdout.Flush();
}

static TelemetryRecord Make(long sequence)
    => new($"crash-device-{sequence % 3}", "counter", sequence, DateTimeOffset.UnixEpoch.AddMilliseconds(sequence));
