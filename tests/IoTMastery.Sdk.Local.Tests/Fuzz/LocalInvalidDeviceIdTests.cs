using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Local.Tests.Fuzz;

/// <summary>Invalid device ids reach the Local registry and are refused with ArgumentException before the store is touched.</summary>
public sealed class LocalInvalidDeviceIdTests
{
    [Fact]
    public async Task Registry_rejects_the_invalid_id_corpus_before_io()
    {
        await using var provider = await LocalIoTProvider.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var failures = await InvalidDeviceIds.RejectedBeforeIoAsync(provider.Registry, DeviceIdRules.Local);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
