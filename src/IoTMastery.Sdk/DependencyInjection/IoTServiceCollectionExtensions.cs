using IoTMastery.Sdk;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration helpers shared by every provider package.</summary>
public static class IoTServiceCollectionExtensions
{
    /// <summary>
    /// Registers <paramref name="factory"/>'s provider as the <see cref="IIoTProvider"/> singleton and
    /// forwards each neutral interface to it. Provider packages call this from their
    /// <c>AddXxxIoT</c> methods; the first registration wins.
    /// </summary>
    public static IServiceCollection AddIoTProvider(this IServiceCollection services, Func<IServiceProvider, IIoTProvider> factory)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(factory);
        services.TryAddSingleton(factory);
        services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().Registry);
        services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().State);
        services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().Commands);
        services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().Telemetry);
        services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().Firmware);
        services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().Devices);
        services.TryAddSingleton(TimeProvider.System);
        return services;
    }
}
