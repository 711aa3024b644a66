using IoTMastery.Sdk;
using IoTMastery.Sdk.Gcp;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the GCP-style provider.</summary>
public static class GcpServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="GcpIoTProvider"/> as the <see cref="IIoTProvider"/> and each neutral interface. The options
    /// are validated now; the provider is built when first resolved and disposed with the service provider.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets project, registry, endpoints, subscriptions and the bridge.</param>
    public static IServiceCollection AddGcpIoT(this IServiceCollection services, Action<GcpIoTOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new GcpIoTOptions();
        configure(options);
        options.Validate();
        // Start-up makes no network call, so the synchronous DI factory does not block on I/O.
        return services.AddIoTProvider(sp => GcpIoTProvider.StartAsync(options, sp.GetService<TimeProvider>(), sp.GetService<ILoggerFactory>()).GetAwaiter().GetResult());
    }
}
