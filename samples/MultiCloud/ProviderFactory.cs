using System.Security.Cryptography.X509Certificates;
using Amazon.Runtime;
using IoTMastery.Sdk;
using IoTMastery.Sdk.Aws;
using IoTMastery.Sdk.Azure;
using IoTMastery.Sdk.CloudDoubles.IotHub;
using IoTMastery.Sdk.Local;

namespace MultiCloud;

/// <summary>Builds the chosen provider plus whatever local infrastructure it needs; disposing stops all of it.</summary>
internal sealed class ProviderHost : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    public required IIoTProvider Provider { get; init; }

    public required string Description { get; init; }

    public static async Task<ProviderHost> StartAsync(string provider, CancellationToken ct) => provider switch
    {
        "local" => new ProviderHost { Provider = await LocalIoTProvider.StartAsync(cancellationToken: ct), Description = "embedded Local provider" },
        "aws" => await StartAwsAsync(ct),
        "gcp" => await GcpLocal.GcpLocalStack.StartAsync(ct),
        "azure" => await StartAzureAsync(),
        _ => throw new ArgumentException($"Unknown provider '{provider}': use local, aws, azure or gcp."),
    };

    // AWS control/data plane: AWS_ENDPOINT_URL (a real account when unset and AWS_IOT_REAL=1), else a moto we start.
    // Device MQTT: a mosquitto with mutual TLS we start, trusting a local CA whose certificates are registered with AWS.
    private static async Task<ProviderHost> StartAwsAsync(CancellationToken ct)
    {
        var owned = new List<IAsyncDisposable>();
        try
        {
            var options = new AwsIoTOptions { Region = Environment.GetEnvironmentVariable("AWS_REGION") is { Length: > 0 } r ? r : "us-east-1" };
            string where;
            if (Environment.GetEnvironmentVariable("AWS_IOT_REAL") == "1")
            {
                where = "a real AWS account (standard credential chain), devices on the account's iot:Data-ATS endpoint";
                var real = await AwsIoTProvider.StartAsync(options, cancellationToken: ct);
                return new ProviderHost { Provider = real, Description = where };
            }
            var endpoint = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL");
            if (string.IsNullOrEmpty(endpoint))
            {
                var moto = await LocalProcess.StartAsync("moto_server", port => ["-H", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
                    "Install it with: pip install \"moto[server]==5.2.1\".", ct);
                owned.Add(moto);
                endpoint = $"http://127.0.0.1:{moto.Port}/";
                // moto accepts any signature; fixed dummy credentials keep the chain away from instance metadata.
                options.Credentials = new BasicAWSCredentials("testing", "testing");
            }
            options.ControlPlaneEndpoint = new Uri(endpoint);
            options.DataPlaneEndpoint = new Uri(endpoint);

            var ca = LocalCertificateAuthority.Create("MultiCloud sample CA");
            owned.Add(new Disposer(ca.Dispose));
            var mosquitto = await LocalMosquitto.StartAsync(ca, requireClientCertificates: true, ct);
            owned.Add(mosquitto);

            var service = ca.IssueDeviceCertificate("multicloud-service");
            // With a CA set, device certificates come from it and are registered with RegisterCertificateWithoutCA,
            // so they chain to the root the local broker trusts.
            options.CertificateAuthority = ca;
            options.Transport.DeviceHost = "localhost";
            options.Transport.DevicePort = mosquitto.Port;
            options.Transport.TrustedRoots = [X509CertificateLoader.LoadCertificate(ca.Certificate.RawData)];
            // The service connection goes to the same broker as the devices (Transport above).
            options.ServiceMqttClientId = "multicloud-service";
            options.ServiceMqttCertificate = service.ToCertificate();
            var provider = await AwsIoTProvider.StartAsync(options, cancellationToken: ct);
            var host = new ProviderHost { Provider = provider, Description = $"AWS provider: control/data plane {endpoint}, device MQTT on mosquitto mqtts://localhost:{mosquitto.Port}" };
            host._owned.AddRange(owned);
            return host;
        }
        catch
        {
            foreach (var o in Enumerable.Reverse(owned)) await o.DisposeAsync();
            throw;
        }
    }

    // A real hub when IOTMASTERY_AZURE_IOTHUB_CONNECTION_STRING is set (telemetry consumption only with the Event Hubs
    // endpoint in IOTMASTERY_AZURE_EVENTHUB_CONNECTION_STRING); otherwise the IoT Hub double the Azure tests use, on loopback.
    private static async Task<ProviderHost> StartAzureAsync()
    {
        if (Environment.GetEnvironmentVariable("IOTMASTERY_AZURE_IOTHUB_CONNECTION_STRING") is { Length: > 0 } connectionString)
        {
            var eventHub = Environment.GetEnvironmentVariable("IOTMASTERY_AZURE_EVENTHUB_CONNECTION_STRING");
            var real = AzureIoTProvider.Create(new AzureIoTOptions
            {
                ConnectionString = connectionString,
                EventHub = eventHub is { Length: > 0 } ? new AzureEventHubOptions { ConnectionString = eventHub, StartFromEarliest = false } : null,
            });
            return new ProviderHost { Provider = real, Description = "a real IoT Hub" + (eventHub is { Length: > 0 } ? " with its Event Hubs-compatible endpoint" : " (no Event Hubs endpoint configured)") };
        }
        var hub = await IotHubDouble.StartAsync();
        try
        {
            return Create(IotHubDoubleProviders.Create(hub),
                $"Azure provider: IoT Hub double, service API https://localhost:{hub.HttpsPort}, device MQTT mqtts://localhost:{hub.MqttPort} (no Event Hubs endpoint offline)",
                [hub]);
        }
        catch
        {
            await hub.DisposeAsync();
            throw;
        }
    }

    /// <summary>A host that stops <paramref name="owned"/> (in reverse) after the provider.</summary>
    public static ProviderHost Create(IIoTProvider provider, string description, IEnumerable<IAsyncDisposable> owned)
    {
        var host = new ProviderHost { Provider = provider, Description = description };
        host._owned.AddRange(owned);
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        await Provider.DisposeAsync();
        foreach (var o in Enumerable.Reverse(_owned)) await o.DisposeAsync();
    }

    internal sealed class Disposer(Action dispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            dispose();
            return ValueTask.CompletedTask;
        }
    }
}
