using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace IoTMastery.Sdk.Cli;

/// <summary>
/// One provider for one command, built by the same <c>AddIoT()</c> builder an application uses, from the same configuration
/// sections (<c>IoT:&lt;Provider&gt;:&lt;name&gt;</c>): a <c>--config</c> JSON file, then <c>IOTM_</c>-prefixed environment
/// variables (<c>IOTM_IoT__Aws__eu__Region</c>), which win.
/// </summary>
internal sealed class ProviderSession : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly IHostedService[] _hosted;

    private ProviderSession(ServiceProvider services, IHostedService[] hosted, IIoTProvider provider, string kind, string name)
    {
        _services = services;
        _hosted = hosted;
        Provider = provider;
        Kind = kind;
        Name = name;
    }

    public IIoTProvider Provider { get; }
    public string Kind { get; }
    public string Name { get; }

    /// <summary>The section names per provider kind, as the DI setup spells them.</summary>
    internal static readonly IReadOnlyDictionary<string, string> Sections = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["local"] = "Local", ["aws"] = "Aws", ["azure"] = "Azure", ["gcp"] = "Gcp",
    };

    public static IConfiguration LoadConfiguration(string? configFile)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            if (!File.Exists(configFile)) throw new ArgumentException($"--config: the file '{configFile}' does not exist.", "--config");
            builder.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
        }
        builder.AddEnvironmentVariables("IOTM_");
        try
        {
            return builder.Build();
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"--config: '{configFile}' is not valid JSON: {e.Message}", "--config", e);
        }
    }

    /// <summary>Picks the provider's configuration section before anything starts, so a wrong choice costs no connection.</summary>
    public static (string Kind, string Name, IConfigurationSection Section) Select(IConfiguration configuration, string? kind, string? name)
    {
        if (kind is null) throw new CliUsageException("--provider is required: local, aws, azure or gcp.");
        if (!Sections.TryGetValue(kind, out var sectionName)) throw new CliUsageException($"--provider must be local, aws, azure or gcp; '{kind}' is not.");
        var configured = configuration.GetSection($"IoT:{sectionName}").GetChildren().Select(c => c.Key).ToArray();
        if (name is null)
        {
            name = configured.Length switch
            {
                1 => configured[0],
                0 => throw new CliUsageException($"No IoT:{sectionName}:<name> section is configured: give one in --config or as IOTM_IoT__{sectionName}__<name>__<Option> environment variables."),
                _ => throw new CliUsageException($"{configured.Length} {sectionName} providers are configured ({string.Join(", ", configured)}): choose one with --name."),
            };
        }
        else if (!configured.Contains(name, StringComparer.Ordinal))
        {
            throw new CliUsageException(configured.Length == 0
                ? $"No IoT:{sectionName}:{name} section is configured."
                : $"No IoT:{sectionName}:{name} section is configured; the {sectionName} providers configured are {string.Join(", ", configured)}.");
        }
        return (kind.ToLowerInvariant(), name, configuration.GetSection($"IoT:{sectionName}:{name}"));
    }

    public static async Task<ProviderSession> StartAsync(IConfiguration configuration, string? kind, string? name, CancellationToken cancellationToken)
    {
        var (k, n, section) = Select(configuration, kind, name);
        if (k == "local" && string.IsNullOrWhiteSpace(section["DatabasePath"]))
            throw new CliUsageException($"IoT:Local:{n}:DatabasePath is required: the tool operates the fleet stored in that SQLite file (an in-memory registry would vanish when the command exits).");

        var services = new ServiceCollection();
        var builder = services.AddIoT();
        _ = k switch
        {
            "local" => builder.AddLocal(n, section),
            "aws" => builder.AddAws(n, section),
            "azure" => builder.AddAzure(n, section),
            _ => builder.AddGcp(n, section),
        };
        var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToArray();
        try
        {
            // The same start an application host performs: options validated first, then the provider started by the hosted service.
            provider.GetService<Microsoft.Extensions.Options.IStartupValidator>()?.Validate();
            foreach (var service in hosted)
            {
                if (service is IHostedLifecycleService lifecycle) await lifecycle.StartingAsync(cancellationToken).ConfigureAwait(false);
                await service.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            var started = provider.GetRequiredService<IIoTProviderFactory>().GetProvider(n);
            return new ProviderSession(provider, hosted, started, k, n);
        }
        catch
        {
            await provider.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var service in _hosted.Reverse())
        {
            try
            {
                await service.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Stopping is best effort; the command's own outcome decides the exit code.
            }
        }
        await _services.DisposeAsync().ConfigureAwait(false);
    }
}
