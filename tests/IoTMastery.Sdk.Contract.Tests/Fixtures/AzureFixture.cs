using IoTMastery.Sdk.CloudDoubles.IotHub;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// Azure against the IoT Hub double (service REST on HTTPS, device MQTT), which the official Node.js SDKs drive first in
/// the Azure tests. The double's built-in Event Hubs endpoint (driven first by the official Azure.Messaging.EventHubs client)
/// carries connection-state events, routed as a hub with a <c>DeviceConnectionStateEvents</c> route would, so presence events
/// are on; it does not carry device telemetry, so telemetry consumption is off and the suite asserts the refusal.
/// </summary>
public sealed class AzureFixture : ProviderFixture
{
    private IotHubDouble? _hub;

    /// <inheritdoc />
    protected override async Task<IIoTProvider> StartAsync()
    {
        _hub = await IotHubDouble.StartAsync();
        _hub.RouteConnectionStateEvents = true;
        return IotHubDoubleProviders.Create(_hub, o => o.ConnectionStateEvents = new Sdk.Azure.AzureEventHubOptions
        {
            ConnectionString = _hub.EventHubs!.ConnectionString,
            ConsumerGroup = "presence",
        });
    }

    /// <summary>Another provider instance on the same hub double, with its firmware store in the directory.</summary>
    public override Task<IIoTProvider> StartFirmwareInstanceAsync(string directory) =>
        Task.FromResult<IIoTProvider>(IotHubDoubleProviders.Create(_hub!, o => o.FirmwareStorePath = Path.Combine(directory, "firmware.db")));

    /// <inheritdoc />
    protected override async Task StopAsync(IIoTProvider? provider)
    {
        if (provider is not null) await provider.DisposeAsync();
        if (_hub is not null) await _hub.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class AzureCollection : ICollectionFixture<AzureFixture>
{
    public const string Name = "contract-azure";
}
