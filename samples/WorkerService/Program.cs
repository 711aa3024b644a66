using IoTMastery.Sdk;
using IoTMastery.Sdk.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace WorkerService;

/// <summary>
/// A Generic Host with one IoT provider per entry under <c>IoT:Local</c> in appsettings.json (two by default), started by the
/// SDK's hosted service before the worker runs.
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

        // One named provider per configuration section: "IoT:Local:edge" becomes the provider "edge".
        var iot = builder.Services.AddIoT();
        var providers = builder.Configuration.GetSection("IoT:Local").GetChildren().ToList();
        if (providers.Count == 0)
            throw new InvalidOperationException("appsettings.json has no providers under IoT:Local; add a section per provider, e.g. \"IoT\": { \"Local\": { \"edge\": {} } }.");
        foreach (var section in providers) iot.AddLocal(section.Key, section);

        // The SDK's spans and metrics under their public names, printed by the console exporter. Metrics are printed every
        // Worker:MetricsExportSeconds and once more when the host stops (disposing the meter provider flushes them).
        var exportEvery = builder.Configuration.GetValue("Worker:MetricsExportSeconds", 5);
        builder.Services.AddOpenTelemetry()
            .WithTracing(tracing => tracing.AddSource(SdkTraceNames.ActivitySource).AddConsoleExporter())
            .WithMetrics(metrics => metrics.AddMeter(SdkMetricNames.Meter).AddConsoleExporter((_, reader) =>
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = exportEvery * 1000));

        builder.Services.Configure<WorkerOptions>(builder.Configuration.GetSection("Worker"));
        builder.Services.AddSingleton<WorkerReport>();
        builder.Services.AddHostedService<FleetWorker>();
        return builder;
    }
}
