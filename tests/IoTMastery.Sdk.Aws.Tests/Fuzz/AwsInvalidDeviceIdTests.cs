using Amazon.Runtime;
using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Aws.Tests.Fuzz;

/// <summary>Invalid device ids reach the AWS registry and are refused with ArgumentException before any request.</summary>
public sealed class AwsInvalidDeviceIdTests
{
    [Fact]
    public async Task Registry_rejects_the_invalid_id_corpus_before_io()
    {
        var closed = new Uri("http://127.0.0.1:1/");
        await using var provider = await AwsIoTProvider.StartAsync(new AwsIoTOptions
        {
            Region = "us-east-1", ControlPlaneEndpoint = closed, DataPlaneEndpoint = closed, EnsureDevicePolicy = false,
            Credentials = new BasicAWSCredentials("AKIDEXAMPLE", "fuzz-secret"),
        }).WaitAsync(TimeSpan.FromSeconds(10));
        var failures = await InvalidDeviceIds.RejectedBeforeIoAsync(provider.Registry, DeviceIdRules.Aws);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
