namespace IoTMastery.Sdk;

/// <summary>
/// The providers added with <c>services.AddIoT()</c>, by name. Providers start when the host starts and are disposed when it
/// stops.
/// </summary>
public interface IIoTProviderFactory
{
    /// <summary>The names of the added providers, in the order they were added.</summary>
    IReadOnlyList<string> Names { get; }

    /// <summary>The started provider named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No provider has that name (the message lists the names there are).</exception>
    /// <exception cref="InvalidOperationException">The host has not started the providers yet, or this one failed to start.</exception>
    IIoTProvider GetProvider(string name);

    /// <summary>
    /// Waits until the host has started the providers, then returns the one named <paramref name="name"/>; for code that may
    /// run before the start completes, such as a hosted service registered before <c>AddIoT()</c>.
    /// </summary>
    /// <exception cref="ArgumentException">No provider has that name.</exception>
    /// <exception cref="InvalidOperationException">The providers failed to start.</exception>
    Task<IIoTProvider> GetProviderAsync(string name, CancellationToken cancellationToken = default);
}
