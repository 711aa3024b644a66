using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>Local is its own peer: the embedded broker, in-memory SQLite registry and local CA.</summary>
public sealed class LocalFixture : ProviderFixture
{
    /// <inheritdoc />
    protected override async Task<IIoTProvider> StartAsync() => await LocalIoTProvider.StartAsync();

    /// <summary>Local is its own peer, so the managing instance is a whole provider on a database file in the directory.</summary>
    public override async Task<IIoTProvider> StartFirmwareInstanceAsync(string directory) =>
        await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = Path.Combine(directory, "fleet.db") });

    /// <summary>Local keeps its firmware tables in the registry database.</summary>
    public override string FirmwareStoreFile(string directory) => Path.Combine(directory, "fleet.db");

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
