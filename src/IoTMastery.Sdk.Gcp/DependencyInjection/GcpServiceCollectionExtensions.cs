using IoTMastery.Sdk;
using IoTMastery.Sdk.Gcp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the GCP-style provider.</summary>
public static class GcpServiceCollectionExtensions
{
    /// <summary>Adds a <see cref="GcpIoTProvider"/> named <paramref name="name"/>; the host starts it and disposes it on stop.</summary>
    /// <param name="builder">From <c>services.AddIoT()</c>.</param>
    /// <param name="name">The provider's name: its DI key and options name.</param>
    /// <param name="configure">Sets project, registry, endpoints, subscriptions and the bridge.</param>
    public static IoTBuilder AddGcp(this IoTBuilder builder, string name, Action<GcpIoTOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        return builder.AddProvider(name, null, configure, static o => o.Validate(), StartAsync);
    }

    /// <summary>
    /// Adds a <see cref="GcpIoTProvider"/> named <paramref name="name"/> with options bound from <paramref name="configuration"/>,
    /// then <paramref name="configure"/>; checked when the host starts. <see cref="GcpIoTOptions.ServiceAccountJsonPath"/> binds
    /// from configuration (without it and <see cref="GcpIoTOptions.AccessTokenProvider"/>: Application Default Credentials, none
    /// toward an http endpoint); code-only members (set them in
    /// <paramref name="configure"/>): <see cref="GcpIoTOptions.AccessTokenProvider"/> and the <see cref="GcpIoTOptions.Transport"/>'s
    /// <see cref="IoTTransportOptions.HttpHandler"/> and <see cref="IoTTransportOptions.TrustedRoots"/>.
    /// </summary>
    /// <param name="builder">From <c>services.AddIoT()</c>.</param>
    /// <param name="name">The provider's name: its DI key and options name.</param>
    /// <param name="configuration">The section holding <see cref="GcpIoTOptions"/> members by name.</param>
    /// <param name="configure">Runs after binding.</param>
    public static IoTBuilder AddGcp(this IoTBuilder builder, string name, IConfiguration configuration, Action<GcpIoTOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.AddProvider(name, configuration, configure, static o => o.Validate(), StartAsync);
    }

    /// <summary>
    /// Adds one <see cref="GcpIoTProvider"/> named <c>Gcp</c>; shorthand for <c>services.AddIoT().AddGcp("Gcp", configure)</c>.
    /// The unkeyed <see cref="IIoTProvider"/> and neutral interfaces resolve to it once the host has started.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets project, registry, endpoints, subscriptions and the bridge.</param>
    public static IServiceCollection AddGcpIoT(this IServiceCollection services, Action<GcpIoTOptions> configure)
    {
        services.AddIoT().AddGcp("Gcp", configure);
        return services;
    }

    private static async Task<IIoTProvider> StartAsync(GcpIoTOptions options, IServiceProvider services, CancellationToken cancellationToken) =>
        await GcpIoTProvider.StartAsync(options, services.GetService<TimeProvider>(), services.GetService<ILoggerFactory>(), cancellationToken).ConfigureAwait(false);
}
