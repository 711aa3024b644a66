using IoTMastery.Sdk.Local.Tests.Services;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local.Tests.Diagnostics;

/// <summary>
/// The log level policy of CONTRIBUTING.md (Logging) on the Local provider's embedded broker: start is Information, a
/// telemetry batch it acknowledges but can never deliver is an Error, and a device's own clean disconnect is no Warning.
/// </summary>
public sealed class LocalLogLevelPolicyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly string BrokerCategory = typeof(LocalBroker).FullName!;

    private static async Task<string> WaitForLineAsync(CapturingLoggerFactory logs, string prefix, string text)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (DateTime.UtcNow < deadline)
        {
            if (logs.Lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal) && l.Contains(text, StringComparison.Ordinal)) is { } line) return line;
            await Task.Delay(20);
        }
        throw new TimeoutException($"no line starting '{prefix}' containing '{text}' within {Bound}:\n" + string.Join("\n", logs.Lines));
    }

    [Fact]
    public async Task A_malformed_telemetry_batch_the_broker_drops_is_an_error_and_its_contents_are_not_logged()
    {
        using var temp = new TempDatabase();
        using var logs = new CapturingLoggerFactory();
        await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = temp.Path }, loggerFactory: logs).WaitAsync(Bound);
        await WaitForLineAsync(logs, $"Information {BrokerCategory}:", "Local broker listening on 127.0.0.1:");

        var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "policy-bad-batch", Credential = CredentialRequest.X509 });
        using var certificate = registration.Credential!.ToCertificate();
        await using (var device = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost", Port = provider.Port, ClientId = "policy-bad-batch", ClientCertificate = certificate, TrustedRoots = [provider.CertificateAuthority],
        }, "Local", TimeProvider.System, logs.CreateLogger<MqttDeviceClient>()))
        {
            await device.ConnectAsync().WaitAsync(Bound);
            // Not a telemetry batch: acknowledged (so the device does not resend it forever) and dropped for good.
            const string payload = "{\"not-a-batch\":\"marker-7f3a\"}";
            await device.PublishAsync(LocalTopics.Telemetry("policy-bad-batch"), System.Text.Encoding.UTF8.GetBytes(payload)).WaitAsync(Bound);

            var line = await WaitForLineAsync(logs, $"Error {BrokerCategory}:", "Dropped a malformed telemetry batch from policy-bad-batch");
            Assert.DoesNotContain("marker-7f3a", line, StringComparison.Ordinal);
        }

        // The device's own disconnect above was requested: Information on the client, no Warning from it.
        await WaitForLineAsync(logs, $"Information {typeof(MqttDeviceClient).FullName}:", "policy-bad-batch disconnected on request");
        Assert.DoesNotContain(logs.Lines, l => l.StartsWith($"Warning {typeof(MqttDeviceClient).FullName}:", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("marker-7f3a", StringComparison.Ordinal));
    }
}
