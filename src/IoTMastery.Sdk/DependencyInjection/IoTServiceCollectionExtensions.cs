using IoTMastery.Sdk;
using IoTMastery.Sdk.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds IoT providers to a service collection.</summary>
public static class IoTServiceCollectionExtensions
{
    /// <summary>
    /// Returns the builder that adds named IoT providers (<c>AddLocal</c>, <c>AddAws</c>, <c>AddAzure</c>, <c>AddGcp</c> from the
    /// provider packages). The first call registers what every provider shares; later calls return a builder over the same
    /// providers, so libraries and the application may each call it.
    /// </summary>
    /// <remarks>
    /// <para>Registered here: <see cref="IIoTProviderFactory"/>; the unkeyed <see cref="IIoTProvider"/> and each neutral
    /// interface (<see cref="IDeviceRegistry"/>, <see cref="IDeviceStateService"/>, <see cref="IDeviceCommandService"/>,
    /// <see cref="ITelemetryChannel"/>, <see cref="IFirmwareService"/>), which resolve to the
    /// only provider or to the one marked with <see cref="IoTBuilder.AsDefault"/>; per provider the same interfaces as keyed
    /// services under its name; <see cref="TimeProvider.System"/> unless a <see cref="TimeProvider"/> is already registered; and a
    /// hosted service that starts every provider in parallel when the host starts and disposes them when it stops.</para>
    /// <para>Providers exist only between the host's start and stop: resolving one earlier throws
    /// <see cref="InvalidOperationException"/> (see <see cref="IIoTProviderFactory.GetProviderAsync"/> to wait for the start).</para>
    /// </remarks>
    /// <param name="services">The service collection.</param>
    public static IoTBuilder AddIoT(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var existing = services.FirstOrDefault(d => d.ServiceType == typeof(IoTProviderRegistrations) && !d.IsKeyedService)?.ImplementationInstance;
        if (existing is IoTProviderRegistrations registrations) return new IoTBuilder(services, registrations);

        registrations = new IoTProviderRegistrations();
        services.AddSingleton(registrations);
        services.AddSingleton<IoTProviderRegistry>();
        services.AddSingleton<IIoTProviderFactory>(sp => sp.GetRequiredService<IoTProviderRegistry>());
        services.AddHostedService<IoTProvidersHostedService>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => sp.GetRequiredService<IoTProviderRegistry>().GetDefaultProvider());
        IoTProviderServices.Forward(services, null);
        return new IoTBuilder(services, registrations);
    }
}
