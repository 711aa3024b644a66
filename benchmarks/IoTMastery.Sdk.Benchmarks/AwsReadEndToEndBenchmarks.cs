using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk.Aws;
using IoTMastery.Sdk.CloudDoubles.Aws;
using IoTMastery.Sdk.CloudDoubles.Moto;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// (g) The reading side end to end on AWS: moto_server (its own process, killed by PID in cleanup) holds the account, and
/// the repo's AWS IoT device-gateway double, backed by that moto, is the MQTT peer. As in the contract tests, it admits only
/// certificates moto holds ACTIVE and attached to the client-id thing, the service connection included. A device publishes
/// pre-encoded 512-record batches (QoS 1, mutual TLS) on <c>iotmastery/{thing}/telemetry</c>. The provider's service
/// connection decodes each one, and the fleet reads every record back through the provider's <c>ITelemetryChannel</c>.
/// The baseline publishes the same batches with nobody reading (the service connection is subscribed and decodes them
/// either way), so the ratio is what reading adds. Mean is ns per record.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(EndToEndConfig))]
public class AwsReadEndToEndBenchmarks
{
    private const int N = EndToEndBenchmarks.RecordCount;
    private const string ServiceThing = "bench-service";
    private static readonly string Topic = $"iotmastery/{FleetReader.DeviceId}/telemetry";

    private readonly MotoServer _moto = new();
    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create("AWS read benchmark gateway CA");
    private readonly FleetReader _reader = new();
    private ReadOnlyMemory<byte>[] _batches = [];
    private AwsIotMqttFake _gateway = null!;
    private AwsIoTProvider _provider = null!;
    private MqttDeviceClient _client = null!;

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        _batches = FleetReader.PreEncodedBatches(N, FleetReader.Batch);
        await _moto.InitializeAsync();
        _gateway = await AwsIotMqttFake.StartAsync(_ca, moto: new AwsIotMotoBacking(_moto.Endpoint));
        // The service principal is a thing with a certificate in moto, registered by a provider that has no service connection yet.
        IssuedCredential service;
        await using (var registrar = await AwsIoTProvider.StartAsync(_moto.Options(Configure)))
            service = (await registrar.Registry.RegisterAsync(new DeviceRegistration { Id = ServiceThing, Credential = CredentialRequest.X509 })).Credential!;
        _provider = await AwsIoTProvider.StartAsync(_moto.Options(o =>
        {
            Configure(o);
            o.ServiceMqttClientId = ServiceThing;
            o.ServiceMqttCertificate = service.ToCertificate();
        }));
        var device = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = FleetReader.DeviceId, Credential = CredentialRequest.X509 });
        _client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = _gateway.Port,
            ClientId = FleetReader.DeviceId,
            ClientCertificate = device.Credential!.ToCertificate(),
            TrustedRoots = _gateway.TrustedRoots,
        }, "AWS");
        await _client.ConnectAsync();
    }

    private void Configure(AwsIoTOptions o)
    {
        o.CertificateAuthority = _ca;
        o.Transport.DeviceHost = "localhost";
        o.Transport.DevicePort = _gateway.Port;
        o.Transport.TrustedRoots = _gateway.TrustedRoots;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _reader.Dispose();
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _provider.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _gateway.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _moto.DisposeAsync().GetAwaiter().GetResult();
        _ca.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "AWS: publish pre-encoded via gateway double, service decodes, nobody reads")]
    public Task PublishOnly() => FleetReader.PublishAllAsync(_client, Topic, _batches);

    [Benchmark(OperationsPerInvoke = N, Description = "AWS: publish pre-encoded + provider Telemetry.ReadAllAsync of every record")]
    public async Task PublishAndRead()
    {
        _reader.Start(_provider.Telemetry);
        await FleetReader.PublishAllAsync(_client, Topic, _batches).ConfigureAwait(false);
        await _reader.ReadAsync(N).ConfigureAwait(false);
    }
}
