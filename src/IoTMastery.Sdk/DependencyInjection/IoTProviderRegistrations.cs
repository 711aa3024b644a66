using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace IoTMastery.Sdk.DependencyInjection;

/// <summary>One added provider: its name and how to start it.</summary>
internal sealed record IoTProviderRegistration(string Name, Func<IServiceProvider, CancellationToken, Task<IIoTProvider>> StartAsync);

/// <summary>What <c>AddIoT()</c> collected; one instance per service collection, shared by every <see cref="IoTBuilder"/> over it.</summary>
internal sealed class IoTProviderRegistrations
{
    /// <summary>Longest provider name: names become configuration keys, log scopes and DI keys, so they stay short.</summary>
    internal const int MaxNameLength = 64;

    public List<IoTProviderRegistration> Providers { get; } = [];

    public string? DefaultName { get; set; }

    internal static void CheckName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length is 0 or > MaxNameLength || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"An IoT provider name must be 1-{MaxNameLength} characters of letters, digits, '-', '_' and '.'; '{name}' is not.", nameof(name));
    }
}

/// <summary>Forwards each neutral interface to a provider, unkeyed (the default) or keyed by its name.</summary>
internal static class IoTProviderServices
{
    public static void Forward(IServiceCollection services, string? name)
    {
        if (name is null)
        {
            services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().Registry);
            services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().State);
            services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().Commands);
            services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().Telemetry);
            services.TryAddSingleton(sp => sp.GetRequiredService<IIoTProvider>().Firmware);
            return;
        }
        services.AddKeyedSingleton(name, (sp, key) => sp.GetRequiredKeyedService<IIoTProvider>(key).Registry);
        services.AddKeyedSingleton(name, (sp, key) => sp.GetRequiredKeyedService<IIoTProvider>(key).State);
        services.AddKeyedSingleton(name, (sp, key) => sp.GetRequiredKeyedService<IIoTProvider>(key).Commands);
        services.AddKeyedSingleton(name, (sp, key) => sp.GetRequiredKeyedService<IIoTProvider>(key).Telemetry);
        services.AddKeyedSingleton(name, (sp, key) => sp.GetRequiredKeyedService<IIoTProvider>(key).Firmware);
    }
}
