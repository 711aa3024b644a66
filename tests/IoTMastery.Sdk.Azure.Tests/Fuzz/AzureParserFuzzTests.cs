using System.Text;
using IoTMastery.Sdk.TestSupport.Fuzz;

namespace IoTMastery.Sdk.Azure.Tests.Fuzz;

/// <summary>Seeded fuzzing of IoT Hub error-body parsing: never a crash or a hang, always a typed IoTException.</summary>
public sealed class AzureParserFuzzTests
{
    private static readonly string[] ErrorSeeds =
    [
        "{\"Message\":\"ErrorCode:DeviceNotFound;Device dev-1 not registered\",\"ExceptionMessage\":\"Tracking ID:abc\"}",
        "{\"Message\":\"{\\\"errorCode\\\":404001,\\\"trackingId\\\":\\\"x\\\",\\\"message\\\":\\\"Device not found\\\",\\\"timestampUtc\\\":\\\"2024-01-01T00:00:00Z\\\"}\",\"ExceptionMessage\":\"\"}",
        "{\"errorCode\":429001,\"message\":\"Throttled\"}",
        "{\"code\":\"IotHubQuotaExceeded\",\"Message\":\"ErrorCode:IotHubQuotaExceeded;Quota\"}",
    ];

    [Fact]
    public void IotHubErrors_Parse_never_throws_and_maps_to_an_IoTException()
    {
        int[] statuses = [400, 404, 409, 412, 429, 500, 503];
        string?[] headers = [null, "DeviceNotFound", "404001", "NaN", "\uD800", ""];
        int i = 0;
        var failures = FuzzInputs.Run(FuzzInputs.For(31, 3000, ErrorSeeds), input =>
        {
            i++;
            var error = IotHubErrors.Parse(statuses[i % statuses.Length], Encoding.UTF8.GetString(input), headers[i % headers.Length]);
            Assert.IsAssignableFrom<IoTException>(IotHubErrors.ToException(error, i % 2 == 0 ? "dev-1" : null, null));
        }, _ => false);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
