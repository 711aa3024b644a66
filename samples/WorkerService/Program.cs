using IoTMastery.Sdk;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

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
        if (overrides is not null) builder.Configuration.AddInMemoryCollection(overrides);

        // One named provider per configuration section: "IoT:Local:edge" becomes the provider "edge".
        var iot = builder.Services.AddIoT();
        var providers = builder.Configuration.GetSection("IoT:Local").GetChildren().ToList();
        if (providers.Count == 0)
            throw new InvalidOperationException("appsettings.json has no providers under IoT:Local; add a section per provider, e.g. \"IoT\": { \"Local\": { \"edge\": {} } }.");
        foreach (var section in providers) iot.AddLocal(section.Key, section);

        builder.Services.Configure<WorkerOptions>(builder.Configuration.GetSection("Worker"));
        builder.Services.AddSingleton<WorkerReport>();
        builder.Services.AddHostedService<FleetWorker>();
        return builder;
    }
}
