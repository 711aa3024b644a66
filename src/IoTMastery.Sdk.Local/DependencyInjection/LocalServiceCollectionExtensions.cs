using IoTMastery.Sdk;
using IoTMastery.Sdk.Local;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the embedded Local provider.</summary>
public static class LocalServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="LocalIoTProvider"/> as the <see cref="IIoTProvider"/> and each neutral
    /// interface (<see cref="IDeviceRegistry"/>, <see cref="IDeviceCommandService"/>, …). The provider
    /// starts when first resolved and stops when the service provider is disposed.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Adjusts the options; the defaults keep the registry in memory.</param>
    public static IServiceCollection AddLocalIoT(this IServiceCollection services, Action<LocalIoTOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new LocalIoTOptions();
        configure?.Invoke(options);
        options.Validate();
        // DI factories are synchronous; start-up opens a database and binds a loopback port, which is quick.
        return services.AddIoTProvider(sp => LocalIoTProvider.StartAsync(options,
            sp.GetService<TimeProvider>(), sp.GetService<ILoggerFactory>()).GetAwaiter().GetResult());
    }
}
