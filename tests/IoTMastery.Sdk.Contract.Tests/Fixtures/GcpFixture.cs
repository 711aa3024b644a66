using IoTMastery.Sdk.CloudDoubles.CloudIot;
using IoTMastery.Sdk.CloudDoubles.PubSub;
using IoTMastery.Sdk.Gcp;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// GCP-style against Google's Pub/Sub emulator, the Cloud IoT registry double and the verifying Cloud IoT bridge double
/// (<see cref="GcpBridgePeer.VerifyingDouble"/>): device JWTs checked against the registered keys, blocked devices refused,
/// revoked sessions ended, and FAILED_PRECONDITION for a command to a device not subscribed, as Cloud IoT Core's bridge did.
/// The bridge double's JWT check is proven against Google's Node device sample in the GCP tests (BridgeDoubleNodeClientTests).
/// </summary>
public sealed class GcpFixture : ProviderFixture
{
    private readonly PubSubEmulator _emulator = new();
    private GcpProviderStack? _stack;

    /// <inheritdoc />
    protected override async Task<IIoTProvider> StartAsync()
    {
        await _emulator.InitializeAsync();
        _stack = await GcpProviderStack.StartAsync(_emulator, bridge: GcpBridgePeer.VerifyingDouble);
        return _stack.Provider;
    }

    /// <summary>
    /// Another provider instance on the same emulator, registry double and bridge, with its firmware store in the
    /// directory and no subscriptions, so it never pulls the shared instance's command replies or telemetry.
    /// </summary>
    public override async Task<IIoTProvider> StartFirmwareInstanceAsync(string directory)
    {
        var options = new GcpIoTOptions();
        foreach (var property in typeof(GcpIoTOptions).GetProperties().Where(p => p.CanWrite))
            property.SetValue(options, property.GetValue(_stack!.Options));
        options.TelemetrySubscriptionId = null;
        options.CommandReplySubscriptionId = null;
        options.FirmwareStorePath = Path.Combine(directory, "firmware.db");
        return await GcpIoTProvider.StartAsync(options);
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
