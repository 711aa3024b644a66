using IoTMastery.Sdk.CloudDoubles.IotHub;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// Azure against the IoT Hub double (service REST on HTTPS, device MQTT), which the official Node.js SDKs drive first in
/// the Azure tests. No Event Hubs endpoint runs offline, so telemetry consumption is off and the suite asserts the refusal.
/// </summary>
public sealed class AzureFixture : ProviderFixture
{
    private IotHubDouble? _hub;

    /// <inheritdoc />
    protected override async Task<IIoTProvider> StartAsync()
    {
        _hub = await IotHubDouble.StartAsync();
        return IotHubDoubleProviders.Create(_hub);
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
