using IoTMastery.Sdk.Azure;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Azure IoT Hub provider.</summary>
public static class AzureServiceCollectionExtensions
{
    /// <summary>Registers <see cref="AzureIoTProvider"/> as the <see cref="IoTMastery.Sdk.IIoTProvider"/> and each neutral interface.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the connection string (or host and credential) and other options.</param>
    public static IServiceCollection AddAzureIoT(this IServiceCollection services, Action<AzureIoTOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new AzureIoTOptions();
        configure(options);
        options.Validate();
        return services.AddIoTProvider(sp => AzureIoTProvider.Create(options, sp.GetService<TimeProvider>(), sp.GetService<ILoggerFactory>()));
    }
}
