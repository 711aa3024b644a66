using BenchmarkDotNet.Running;
using IoTMastery.Sdk.Benchmarks;

// `billing` prints the computed billed-units table; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "billing")
{
    await BillingReport.RunAsync();
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(ThroughputBenchmarks).Assembly).Run(args);
