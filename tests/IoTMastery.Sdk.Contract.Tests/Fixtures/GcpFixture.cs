using IoTMastery.Sdk.CloudDoubles.CloudIot;
using IoTMastery.Sdk.CloudDoubles.PubSub;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// GCP-style against Google's Pub/Sub emulator, the Cloud IoT registry double and Mosquitto as the bridge broker with
/// the relay doing the bridge's routing: the stack the GCP tests use (<see cref="GcpProviderStack"/>).
/// </summary>
public sealed class GcpFixture : ProviderFixture
{
    private readonly PubSubEmulator _emulator = new();
    private GcpProviderStack? _stack;

    /// <inheritdoc />
    protected override async Task<IIoTProvider> StartAsync()
    {
        await _emulator.InitializeAsync();
        _stack = await GcpProviderStack.StartAsync(_emulator);
        return _stack.Provider;
    }

    /// <inheritdoc />
    protected override async Task StopAsync(IIoTProvider? provider)
    {
        // The stack owns the provider and disposes it first.
        if (_stack is not null) await _stack.DisposeAsync();
        await _emulator.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class GcpCollection : ICollectionFixture<GcpFixture>
{
    public const string Name = "contract-gcp";
}
