using IoTMastery.Sdk.CloudDoubles.IotHub;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// Azure against the IoT Hub double (service REST on HTTPS, device MQTT), which the official Node.js SDKs drive first in
/// the Azure tests. The double's built-in Event Hubs endpoint (driven first by the official Azure.Messaging.EventHubs client)
/// carries device telemetry, as a hub's fallback route does, and connection-state events, routed as a hub with a
/// <c>DeviceConnectionStateEvents</c> route would: presence events and telemetry consumption are both on, each reader in its
/// own consumer group, the telemetry reader passing over the connection-state events it also sees.
/// </summary>
public class AzureFixture : ProviderFixture
{
    private IotHubDouble? _hub;

    /// <summary>
    /// Where a telemetry reader without a checkpoint starts: new events only (false, the option's default, so the telemetry
    /// contract proves SubscribeAsync is live on the AMQP endpoint when it returns) or the oldest retained event.
    /// </summary>
    protected virtual bool TelemetryFromEarliest => false;

    /// <inheritdoc />
    protected override async Task<IIoTProvider> StartAsync()
    {
        _hub = await IotHubDouble.StartAsync();
        _hub.RouteConnectionStateEvents = true;
        return IotHubDoubleProviders.Create(_hub, o =>
        {
            o.ConnectionStateEvents = new Sdk.Azure.AzureEventHubOptions
            {
                ConnectionString = _hub.EventHubs!.ConnectionString,
                ConsumerGroup = "presence",
            };
            o.EventHub = new Sdk.Azure.AzureEventHubOptions
            {
                ConnectionString = _hub.EventHubs!.ConnectionString,
                ConsumerGroup = "telemetry",
                StartFromEarliest = TelemetryFromEarliest,
            };
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

/// <summary>
/// The Azure fixture with a telemetry reader that starts at the oldest retained event, for the contract that reads with
/// <c>ReadAllAsync</c> (no SubscribeAsync): a reader at "new events only" fixes its start when its AMQP link opens, unobserved,
/// so records sent right after the first read could precede it. Reading everything and keeping the test's device is exact.
/// </summary>
public sealed class AzureFromEarliestFixture : AzureFixture
{
    /// <inheritdoc />
    protected override bool TelemetryFromEarliest => true;
}

[CollectionDefinition(Name)]
public sealed class AzureFromEarliestCollection : ICollectionFixture<AzureFromEarliestFixture>
{
    public const string Name = "contract-azure-from-earliest";
}

[CollectionDefinition(Name)]
public sealed class AzureCollection : ICollectionFixture<AzureFixture>
{
    public const string Name = "contract-azure";
}
