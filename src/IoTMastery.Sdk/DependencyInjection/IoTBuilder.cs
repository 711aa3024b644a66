using IoTMastery.Sdk;
using IoTMastery.Sdk.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Adds named IoT providers: <c>services.AddIoT().AddLocal("edge").AddAws("eu", configuration.GetSection("IoT:Aws:eu"))</c>.
/// Each provider is a keyed service under its name (<c>[FromKeyedServices("eu")] IIoTProvider</c>) and is reachable through
/// <see cref="IIoTProviderFactory"/>.
/// </summary>
public sealed class IoTBuilder
{
    private readonly IoTProviderRegistrations _registrations;

    internal IoTBuilder(IServiceCollection services, IoTProviderRegistrations registrations)
    {
        Services = services;
        _registrations = registrations;
    }

    /// <summary>The service collection the providers are added to.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Makes the provider added last the one the unkeyed <see cref="IIoTProvider"/> and neutral interfaces resolve to. Needed
    /// only with several providers; with one, it is the default anyway.
    /// </summary>
    /// <exception cref="InvalidOperationException">No provider was added yet, or another one is already the default.</exception>
    public IoTBuilder AsDefault()
    {
        lock (_registrations)
        {
            if (_registrations.Providers.Count == 0)
                throw new InvalidOperationException("AsDefault() marks the provider added just before it; add one first, e.g. AddIoT().AddLocal(\"edge\").AsDefault().");
            var last = _registrations.Providers[^1].Name;
            if (_registrations.DefaultName is { } other && other != last)
                throw new InvalidOperationException($"IoT provider '{other}' is already the default; only one provider can be marked with AsDefault(), not also '{last}'.");
            _registrations.DefaultName = last;
        }
        return this;
    }

    /// <summary>
    /// Adds a provider under <paramref name="name"/>, for providers outside this SDK's packages (the built-in ones have
    /// <c>AddLocal</c>, <c>AddAws</c>, <c>AddAzure</c> and <c>AddGcp</c>). <paramref name="startAsync"/> runs once, when the host
    /// starts, in parallel with the other providers; the provider is disposed when the host stops.
    /// </summary>
    /// <param name="name">1-64 characters of letters, digits, '-', '_' and '.'; unique among the providers.</param>
    /// <param name="startAsync">Creates and starts the provider.</param>
    /// <exception cref="ArgumentException">The name breaks the rule above or is taken.</exception>
    public IoTBuilder AddProvider(string name, Func<IServiceProvider, CancellationToken, Task<IIoTProvider>> startAsync)
    {
        ArgumentNullException.ThrowIfNull(startAsync);
        lock (_registrations)
        {
            CheckNewName(name);
            _registrations.Providers.Add(new IoTProviderRegistration(name, startAsync));
        }
        Services.AddKeyedSingleton<IIoTProvider>(name, (sp, _) => sp.GetRequiredService<IoTProviderRegistry>().GetProvider(name));
        IoTProviderServices.Forward(Services, name);
        return this;
    }

    /// <summary>
    /// The one path every built-in provider takes: named options bound from <paramref name="configuration"/> and then
    /// <paramref name="configure"/>, checked on start by the options class's own validation, and read from
    /// <see cref="IOptionsMonitor{TOptions}"/> when the host starts the provider.
    /// </summary>
    internal IoTBuilder AddProvider<TOptions>(string name, IConfiguration? configuration, Action<TOptions>? configure,
        Action<TOptions> validate, Func<TOptions, IServiceProvider, CancellationToken, Task<IIoTProvider>> startAsync)
        where TOptions : class
    {
        // Checked before the options are registered, so a refused name leaves nothing behind.
        lock (_registrations) CheckNewName(name);
        var options = Services.AddOptions<TOptions>(name);
        if (configuration is not null) options.Bind(configuration);
        if (configure is not null) options.Configure(configure);
        Services.AddSingleton<IValidateOptions<TOptions>>(new IoTOptionsValidator<TOptions>(name, configuration is IConfigurationSection section ? section.Path : null, validate));
        options.ValidateOnStart();
        return AddProvider(name, (sp, ct) => startAsync(sp.GetRequiredService<IOptionsMonitor<TOptions>>().Get(name), sp, ct));
    }

    private void CheckNewName(string name)
    {
        IoTProviderRegistrations.CheckName(name);
        if (_registrations.Providers.Any(p => p.Name == name))
            throw new ArgumentException($"An IoT provider named '{name}' is already added; provider names must be unique.", nameof(name));
    }
}
