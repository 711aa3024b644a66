using BenchmarkDotNet.Running;
using IoTMastery.Sdk.Benchmarks;

// `billing` prints the computed billed-units table; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "billing")
{
    await BillingReport.RunAsync();
    return;
}
// `e2e-smoke [Local|Mosquitto] [rounds]` times the end-to-end methods with a stopwatch, for a quick check or a profiler.
if (args.Length > 0 && args[0] == "e2e-smoke")
{
    var brokers = args.Length > 1 ? [args[1]] : new[] { "Local", "Mosquitto" };
    await EndToEndSmoke.RunAsync(brokers, args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3);
    return;
}
// `pipe-smoke [rounds]` runs the e2e pipeline row against an acknowledging transport: the pipeline's own CPU per record.
if (args.Length > 0 && args[0] == "pipe-smoke")
{
    await PipelineSmoke.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200);
    return;
}
// `enc-smoke [rounds]` encodes the e2e data through the batch builder's entry on one thread: CPU per record of encoding alone.
if (args.Length > 0 && args[0] == "enc-smoke")
{
    EncodeSmoke.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100);
    return;
}
// `lake-size [records]` prints bytes per record of each lake format and times the whole exporter over an outbox.
if (args.Length > 0 && args[0] == "lake-size")
{
    await LakeData.ReportAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5_000_000);
    return;
}
// `alerts-smoke [rounds]` times the rule evaluators with a stopwatch, round-robin (median and minimum per record).
if (args.Length > 0 && args[0] == "alerts-smoke")
{
    AlertBenchmarks.Smoke(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10);
    return;
}
// `decode-smoke [rounds]` times the decode methods round-robin by wall clock and CPU time, a cross-check robust to load.
if (args.Length > 0 && args[0] == "decode-smoke")
{
    DecodeSmoke.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10);
    return;
}
// `intake-smoke [rounds]` times durable intake by wall clock and by the producer thread's CPU time, a cross-check robust to load.
if (args.Length > 0 && args[0] == "intake-smoke")
{
    IntakeSmoke.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 7);
    return;
}
// `register-smoke [devices] [rounds]` breaks certificate issuing into stages and times whole registrations (wall and CPU).
if (args.Length > 0 && args[0] == "register-smoke")
{
    await RegistrationSmoke.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1000,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5);
    return;
}
// `connect-smoke [devices] [concurrency]` breaks a device's connection to the Local broker into stages and times whole connects.
if (args.Length > 0 && args[0] == "connect-smoke")
{
    await ConnectSmoke.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1000,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 32);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(ThroughputBenchmarks).Assembly).Run(args);
