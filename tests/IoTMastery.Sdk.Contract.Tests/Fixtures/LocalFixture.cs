using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>Local is its own peer: the embedded broker, in-memory SQLite registry and local CA.</summary>
public sealed class LocalFixture : ProviderFixture
{
    /// <inheritdoc />
    protected override async Task<IIoTProvider> StartAsync() => await LocalIoTProvider.StartAsync();

    /// <inheritdoc />
    protected override async Task StopAsync(IIoTProvider? provider)
    {
        if (provider is not null) await provider.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class LocalCollection : ICollectionFixture<LocalFixture>
{
    public const string Name = "contract-local";
}
