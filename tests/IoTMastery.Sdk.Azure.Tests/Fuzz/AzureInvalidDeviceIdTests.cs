using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Azure.Tests.Fuzz;

/// <summary>Invalid device ids reach the IoT Hub registry and are refused with ArgumentException before any request.</summary>
public sealed class AzureInvalidDeviceIdTests
{
    [Fact]
    public async Task Registry_rejects_the_invalid_id_corpus_before_io()
    {
        await using var provider = AzureIoTProvider.Create(new AzureIoTOptions
        {
            ConnectionString = "HostName=fuzz.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=AAAA",
            ServiceEndpoint = new Uri("http://127.0.0.1:1/"),
        });
        var failures = await InvalidDeviceIds.RejectedBeforeIoAsync(provider.Registry, DeviceIdRules.Azure);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
