using IoTMastery.Sdk;
using IoTMastery.Sdk.Azure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the Azure IoT Hub provider.</summary>
public static class AzureServiceCollectionExtensions
{
    /// <summary>Adds an <see cref="AzureIoTProvider"/> named <paramref name="name"/>; the host starts it and disposes it on stop.</summary>
    /// <param name="builder">From <c>services.AddIoT()</c>.</param>
    /// <param name="name">The provider's name: its DI key and options name.</param>
    /// <param name="configure">Sets the connection string (or host and credential) and other options.</param>
    public static IoTBuilder AddAzure(this IoTBuilder builder, string name, Action<AzureIoTOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        return builder.AddProvider(name, null, configure, static o => o.Validate(), Start);
    }

    /// <summary>
    /// Adds an <see cref="AzureIoTProvider"/> named <paramref name="name"/> with options bound from <paramref name="configuration"/>,
    /// then <paramref name="configure"/>; checked when the host starts. Code-only members (set them in
    /// <paramref name="configure"/>): <see cref="AzureIoTOptions.Credential"/>, the <see cref="AzureIoTOptions.Transport"/>'s
    /// <see cref="IoTTransportOptions.HttpHandler"/> and <see cref="IoTTransportOptions.TrustedRoots"/>, and <see cref="AzureIoTOptions.CertificateAuthority"/>.
    /// </summary>
    /// <param name="builder">From <c>services.AddIoT()</c>.</param>
    /// <param name="name">The provider's name: its DI key and options name.</param>
    /// <param name="configuration">The section holding <see cref="AzureIoTOptions"/> members by name, e.g. <c>ConnectionString</c>.</param>
    /// <param name="configure">Runs after binding.</param>
    public static IoTBuilder AddAzure(this IoTBuilder builder, string name, IConfiguration configuration, Action<AzureIoTOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.AddProvider(name, configuration, configure, static o => o.Validate(), Start);
    }

    /// <summary>
    /// Adds one <see cref="AzureIoTProvider"/> named <c>Azure</c>; shorthand for <c>services.AddIoT().AddAzure("Azure", configure)</c>.
    /// The unkeyed <see cref="IIoTProvider"/> and neutral interfaces resolve to it once the host has started.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the connection string (or host and credential) and other options.</param>
    public static IServiceCollection AddAzureIoT(this IServiceCollection services, Action<AzureIoTOptions> configure)
    {
        services.AddIoT().AddAzure("Azure", configure);
        return services;
    }

    // The Azure provider makes no network call to start, so its synchronous Create needs no blocking wrapper.
    private static Task<IIoTProvider> Start(AzureIoTOptions options, IServiceProvider services, CancellationToken cancellationToken) =>
        Task.FromResult<IIoTProvider>(AzureIoTProvider.Create(options, services.GetService<TimeProvider>(), services.GetService<ILoggerFactory>()));
}
