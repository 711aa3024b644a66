using IoTMastery.Sdk;
using IoTMastery.Sdk.Aws;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the AWS IoT Core provider.</summary>
public static class AwsServiceCollectionExtensions
{
    /// <summary>Adds an <see cref="AwsIoTProvider"/> named <paramref name="name"/>; the host starts it and disposes it on stop.</summary>
    /// <param name="builder">From <c>services.AddIoT()</c>.</param>
    /// <param name="name">The provider's name: its DI key and options name.</param>
    /// <param name="configure">Sets the region, endpoints, credentials and the rest.</param>
    public static IoTBuilder AddAws(this IoTBuilder builder, string name, Action<AwsIoTOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        return builder.AddProvider(name, null, configure, static o => o.Validate(), StartAsync);
    }

    /// <summary>
    /// Adds an <see cref="AwsIoTProvider"/> named <paramref name="name"/> with options bound from <paramref name="configuration"/>
    /// (e.g. <c>configuration.GetSection("IoT:Aws:eu")</c>), then <paramref name="configure"/>; checked when the host starts.
    /// Code-only members (set them in <paramref name="configure"/>): <see cref="AwsIoTOptions.Credentials"/> (unset: the standard
    /// credential chain), <see cref="AwsIoTOptions.Transport"/>'s <see cref="IoTTransportOptions.HttpHandler"/> and <see cref="IoTTransportOptions.TrustedRoots"/>, <see cref="AwsIoTOptions.CertificateAuthority"/> and
    /// <see cref="AwsIoTOptions.ServiceMqttCertificate"/> (a certificate with its private key); <see cref="AwsIoTOptions.ServiceMqttClientId"/> binds from
    /// configuration, and so do <see cref="AwsIoTOptions.ServiceMqttCertificateFile"/> and <see cref="AwsIoTOptions.ServiceMqttPrivateKeyFile"/>,
    /// the certificate as PEM files.
    /// </summary>
    /// <param name="builder">From <c>services.AddIoT()</c>.</param>
    /// <param name="name">The provider's name: its DI key and options name.</param>
    /// <param name="configuration">The section holding <see cref="AwsIoTOptions"/> members by name.</param>
    /// <param name="configure">Runs after binding.</param>
    public static IoTBuilder AddAws(this IoTBuilder builder, string name, IConfiguration configuration, Action<AwsIoTOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.AddProvider(name, configuration, configure, static o => o.Validate(), StartAsync);
    }

    /// <summary>
    /// Adds one <see cref="AwsIoTProvider"/> named <c>Aws</c>; shorthand for <c>services.AddIoT().AddAws("Aws", configure)</c>.
    /// The unkeyed <see cref="IIoTProvider"/> and neutral interfaces resolve to it once the host has started.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the region, endpoints, credentials and the rest.</param>
    public static IServiceCollection AddAwsIoT(this IServiceCollection services, Action<AwsIoTOptions> configure)
    {
        services.AddIoT().AddAws("Aws", configure);
        return services;
    }

    private static async Task<IIoTProvider> StartAsync(AwsIoTOptions options, IServiceProvider services, CancellationToken cancellationToken) =>
        await AwsIoTProvider.StartAsync(options, services.GetService<TimeProvider>(), services.GetService<ILoggerFactory>(), cancellationToken).ConfigureAwait(false);
}
