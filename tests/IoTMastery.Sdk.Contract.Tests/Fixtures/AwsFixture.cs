using IoTMastery.Sdk.Aws;
using IoTMastery.Sdk.CloudDoubles.Moto;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// AWS against moto (control and data plane over HTTP) and Eclipse Mosquitto with mutual TLS as the MQTT peer for
/// devices and the service connection (commands, telemetry consumption). Device certificates come from the broker's CA,
/// registered with moto without a CA, as for multi-account registration.
/// </summary>
public sealed class AwsFixture : ProviderFixture
{
    private readonly MotoServer _moto = new();
    private MosquittoBroker? _broker;

    /// <inheritdoc />
    protected override async Task<IIoTProvider> StartAsync()
    {
        await _moto.InitializeAsync();
        _broker = await MosquittoBroker.StartAsync();
        var service = _broker.Ca.IssueDeviceCertificate("contract-service");
        return await AwsIoTProvider.StartAsync(_moto.Options(o =>
        {
            o.CertificateSource = AwsCertificateSource.RegisterWithoutCa;
            o.CertificateAuthority = _broker.Ca;
            o.DeviceEndpoint = "localhost";
            o.DevicePort = _broker.Port;
            o.DeviceTrustedRoots = _broker.TrustedRoots;
            o.ServiceMqtt = new AwsServiceMqttOptions
            {
                Host = "localhost",
                Port = _broker.Port,
                ClientId = "contract-service",
                ClientCertificate = service.ToCertificate(),
                TrustedRoots = _broker.TrustedRoots,
            };
        }));
    }

    /// <inheritdoc />
    protected override async Task StopAsync(IIoTProvider? provider)
    {
        if (provider is not null) await provider.DisposeAsync();
        if (_broker is not null) await _broker.DisposeAsync();
        await _moto.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class AwsCollection : ICollectionFixture<AwsFixture>
{
    public const string Name = "contract-aws";
}
