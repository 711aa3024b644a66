using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Gcp.Tests.Fuzz;

/// <summary>Invalid device ids reach the Cloud IoT registry and are refused with ArgumentException before any request.</summary>
public sealed class GcpInvalidDeviceIdTests
{
    [Fact]
    public async Task Registry_rejects_the_invalid_id_corpus_before_io()
    {
        await using var provider = await GcpIoTProvider.StartAsync(new GcpIoTOptions
        {
            ProjectId = "my-project", RegistryId = "reg-1", Transport = { DeviceHost = "localhost" },
            CloudIotBaseUrl = new Uri("http://127.0.0.1:1/"), PubSubBaseUrl = new Uri("http://127.0.0.1:1/"),
        }).WaitAsync(TimeSpan.FromSeconds(10));
        var failures = await InvalidDeviceIds.RejectedBeforeIoAsync(provider.Registry, DeviceIdRules.Gcp);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
