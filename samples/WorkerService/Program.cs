using IoTMastery.Sdk;
using IoTMastery.Sdk.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace WorkerService;

/// <summary>
/// A Generic Host with two clouds side by side from appsettings.json: one IoT provider per entry under <c>IoT:Local</c> and
/// one per entry under <c>IoT:Aws</c> whose <c>Region</c> is set, started by the SDK's hosted service before the worker runs.
/// An AWS entry without a region is left out, and the worker says so when it starts.
/// </summary>
public static class Program
{
    /// <summary>Runs the host until the worker is done (or Ctrl+C); exit code 1 if the worker failed.</summary>
    public static async Task<int> Main(string[] args)
    {
        using var host = CreateBuilder(args).Build();
        // Resolved first: RunAsync disposes the host's services when it returns.
        var report = host.Services.GetRequiredService<WorkerReport>();
        await host.RunAsync();
        return report.Failed ? 1 : 0;
    }

    /// <summary>The host's services and configuration; tests build it with extra configuration.</summary>
    public static HostApplicationBuilder CreateBuilder(string[] args, IEnumerable<KeyValuePair<string, string?>>? overrides = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            // appsettings.json is copied beside the program, so it is found whatever the working directory.
            ContentRootPath = AppContext.BaseDirectory,
        });
        // --seconds N: keep doing round trips for N seconds, then stop (a bounded run).
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string> { ["--seconds"] = "Worker:Seconds" });
        if (overrides is not null) builder.Configuration.AddInMemoryCollection(overrides);

        // One named provider per configuration section: "IoT:Local:edge" becomes the provider "edge", "IoT:Aws:eu" the provider "eu".
        var iot = builder.Services.AddIoT();
        var setup = new SampleSetup();
        foreach (var section in builder.Configuration.GetSection("IoT:Local").GetChildren())
        {
            iot.AddLocal(section.Key, section);
            setup.Providers.Add(section.Key);
        }
        foreach (var section in builder.Configuration.GetSection("IoT:Aws").GetChildren())
        {
            // Opt-in by region: an AWS section left as shipped must not send the sample's devices to whatever account the
            // machine's credential chain happens to reach.
            if (string.IsNullOrWhiteSpace(section["Region"]))
            {
                setup.Skipped.Add($"AWS provider '{section.Key}' is not configured ({section.Path}:Region is empty), so it does not run; "
                    + $"set it (e.g. the environment variable IoT__Aws__{section.Key}__Region=eu-west-1) and give AWS credentials the usual way; see samples/WorkerService/README.md.");
                continue;
            }
            var extras = builder.Configuration.GetSection($"Worker:Aws:{section.Key}");
            iot.AddAws(section.Key, section, options => AwsSampleSettings.Apply(options, extras));
            setup.Providers.Add(section.Key);
        }
        if (setup.Providers.Count == 0)
            throw new InvalidOperationException("appsettings.json configures no provider: add a section under IoT:Local (e.g. \"IoT\": { \"Local\": { \"edge\": {} } }) or set IoT:Aws:<name>:Region.");
        builder.Services.AddSingleton(setup);

        // The SDK's spans and metrics under their public names, printed by the console exporter. Metrics are printed every
        // Worker:MetricsExportSeconds and once more when the host stops (disposing the meter provider flushes them).
        var exportEvery = builder.Configuration.GetValue("Worker:MetricsExportSeconds", 5);
        builder.Services.AddOpenTelemetry()
            .WithTracing(tracing => tracing.AddSource(IoTDiagnostics.ActivitySourceName).AddConsoleExporter())
            .WithMetrics(metrics => metrics.AddMeter(IoTDiagnostics.MeterName).AddConsoleExporter((_, reader) =>
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = exportEvery * 1000));

        builder.Services.Configure<WorkerOptions>(builder.Configuration.GetSection("Worker"));
        builder.Services.AddSingleton<WorkerReport>();
        builder.Services.AddHostedService<FleetWorker>();
        return builder;
    }
}
