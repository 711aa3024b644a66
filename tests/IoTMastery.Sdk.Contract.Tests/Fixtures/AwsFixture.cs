using IoTMastery.Sdk.Aws;
using IoTMastery.Sdk.CloudDoubles.Aws;
using IoTMastery.Sdk.TestSupport;
using IoTMastery.Sdk.CloudDoubles.Moto;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// AWS against moto (control and data plane over HTTP) and the AWS IoT device-gateway double backed by that moto
/// (<see cref="AwsIotMqttFake"/> with <see cref="AwsIotMotoBacking"/>) as the MQTT peer for devices and the service
/// connection: it admits only certificates moto holds ACTIVE and attached to the client-id thing, closes live connections
/// whose certificate stops being so, and serves moto's shadows over MQTT. Device certificates come from the double's CA,
/// registered with moto without a CA, as for multi-account registration. The service connection is no exception: its
/// certificate is registered in moto on a thing of its own (<see cref="ServiceThing"/>), so the double has no back door.
/// </summary>
public sealed class AwsFixture : ProviderFixture
{
    /// <summary>The thing whose name is the service MQTT connection's client id.</summary>
    public const string ServiceThing = "contract-service";

    private readonly MotoServer _moto = new();
    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create("AWS contract gateway CA");
    private readonly TempFirmwareStore _firmwareStore = new();
    private AwsIotMqttFake? _gateway;

    /// <inheritdoc />
    protected override async Task<IIoTProvider> StartAsync()
    {
        await _moto.InitializeAsync();
        _gateway = await AwsIotMqttFake.StartAsync(_ca, moto: new AwsIotMotoBacking(_moto.Endpoint));
        // The service principal is registered like a device, by a provider that has no service connection yet.
        IssuedCredential service;
        await using (var registrar = await AwsIoTProvider.StartAsync(_moto.Options(Configure)))
            service = (await registrar.Registry.RegisterAsync(new DeviceRegistration { Id = ServiceThing, Credential = CredentialRequest.X509 })).Credential!;
        return await AwsIoTProvider.StartAsync(_moto.Options(o =>
        {
            Configure(o);
            o.FirmwareStorePath = _firmwareStore.Path;
            // The service connection goes where devices connect: the gateway double on localhost.
            o.ServiceMqttClientId = ServiceThing;
            o.ServiceMqttCertificate = service.ToCertificate();
        }));
    }

    /// <summary>
    /// Another provider instance on the same moto and gateway double, with its firmware store in the directory and no
    /// service MQTT connection (the firmware engine reads and writes shadows over HTTP).
    /// </summary>
    public override async Task<IIoTProvider> StartFirmwareInstanceAsync(string directory) =>
        await AwsIoTProvider.StartAsync(_moto.Options(o =>
        {
            Configure(o);
            o.FirmwareStorePath = Path.Combine(directory, "firmware.db");
        }));

    private void Configure(AwsIoTOptions o)
    {
        var gateway = _gateway ?? throw new InvalidOperationException("The fixture is not initialized.");
        o.CertificateAuthority = _ca;
        o.Transport.DeviceHost = "localhost";
        o.Transport.DevicePort = gateway.Port;
        o.Transport.TrustedRoots = gateway.TrustedRoots;
    }

    /// <inheritdoc />
    protected override async Task StopAsync(IIoTProvider? provider)
    {
        if (provider is not null) await provider.DisposeAsync();
        if (_gateway is not null) await _gateway.DisposeAsync();
        await _moto.DisposeAsync();
        _ca.Dispose();
        _firmwareStore.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class AwsCollection : ICollectionFixture<AwsFixture>
{
    public const string Name = "contract-aws";
}
