using IoTMastery.Sdk;
using IoTMastery.Sdk.Local;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the embedded Local provider.</summary>
public static class LocalServiceCollectionExtensions
{
    /// <summary>
    /// Adds a <see cref="LocalIoTProvider"/> named <paramref name="name"/>; the host starts it and disposes it on stop. Every
    /// <see cref="LocalIoTOptions"/> member can come from configuration.
    /// </summary>
    /// <param name="builder">From <c>services.AddIoT()</c>.</param>
    /// <param name="name">The provider's name: its DI key and options name.</param>
    /// <param name="configure">Adjusts the options; the defaults keep the registry in memory on a free loopback port.</param>
    public static IoTBuilder AddLocal(this IoTBuilder builder, string name, Action<LocalIoTOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProvider(name, null, configure, static o => o.Validate(), StartAsync);
    }

    /// <summary>
    /// Adds a <see cref="LocalIoTProvider"/> named <paramref name="name"/> with options bound from <paramref name="configuration"/>
    /// (e.g. <c>configuration.GetSection("IoT:Local:edge")</c>), then <paramref name="configure"/>; checked when the host starts.
    /// </summary>
    /// <param name="builder">From <c>services.AddIoT()</c>.</param>
    /// <param name="name">The provider's name: its DI key and options name.</param>
    /// <param name="configuration">The section holding <see cref="LocalIoTOptions"/> members by name.</param>
    /// <param name="configure">Runs after binding.</param>
    public static IoTBuilder AddLocal(this IoTBuilder builder, string name, IConfiguration configuration, Action<LocalIoTOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.AddProvider(name, configuration, configure, static o => o.Validate(), StartAsync);
    }

    /// <summary>
    /// Adds one <see cref="LocalIoTProvider"/> named <c>Local</c>; shorthand for <c>services.AddIoT().AddLocal("Local", configure)</c>.
    /// The unkeyed <see cref="IIoTProvider"/> and neutral interfaces resolve to it once the host has started.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Adjusts the options; the defaults keep the registry in memory.</param>
    public static IServiceCollection AddLocalIoT(this IServiceCollection services, Action<LocalIoTOptions>? configure = null)
    {
        services.AddIoT().AddLocal("Local", configure);
        return services;
    }

    private static async Task<IIoTProvider> StartAsync(LocalIoTOptions options, IServiceProvider services, CancellationToken cancellationToken) =>
        await LocalIoTProvider.StartAsync(options, services.GetService<TimeProvider>(), services.GetService<ILoggerFactory>(), cancellationToken).ConfigureAwait(false);
}
