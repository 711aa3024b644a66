using Microsoft.Extensions.Hosting;

namespace IoTMastery.Sdk.DependencyInjection;

/// <summary>Starts the added providers when the host starts and disposes them when it stops.</summary>
internal sealed class IoTProvidersHostedService(IoTProviderRegistry registry) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => registry.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => registry.StopAsync(cancellationToken);
}
