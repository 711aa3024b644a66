using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using IoTMastery.Sdk.Azure;

namespace IoTMastery.Sdk.CloudDoubles.IotHub;

/// <summary>Providers pointed at a double: service calls to its HTTPS port, devices to its MQTT port, trusting only its CA.</summary>
public static class IotHubDoubleProviders
{
    public static AzureIoTProvider Create(IotHubDouble hub, Action<AzureIoTOptions>? configure = null, TimeProvider? time = null,
        Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null)
    {
        var options = new AzureIoTOptions
        {
            ConnectionString = hub.ServiceConnectionString,
            ServiceEndpoint = new Uri($"https://localhost:{hub.HttpsPort}"),
            Transport =
            {
                HttpHandler = TrustingHandler(hub.CaCertificate),
                DeviceHost = "localhost",
                DevicePort = hub.MqttPort,
                TrustedRoots = [hub.CaCertificate],
                RetryBaseDelay = TimeSpan.FromMilliseconds(10),
                RetryMaxDelay = TimeSpan.FromMilliseconds(50),
            },
            // One firmware store per hub, as the default (named after the hub host) would be, but in the temp folder.
            FirmwareStorePath = hub.FirmwareStore.Path,
        };
        configure?.Invoke(options);
        return AzureIoTProvider.Create(options, time, loggerFactory);
    }

    public static SocketsHttpHandler TrustingHandler(X509Certificate2 ca) => new()
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch)) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
            },
        },
    };
}
