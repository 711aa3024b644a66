using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk.Azure;
using IoTMastery.Sdk.CloudDoubles.IotHub;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// (i) The reading side end to end on Azure: the repo's IoT Hub double (in this process) is the device's MQTT peer and
/// copies every device-to-cloud publish into its built-in Event Hubs endpoint double (AMQP, as the hub's fallback route
/// does), and the provider's <c>ITelemetryChannel</c> reads that endpoint with the official Event Hubs consumer client. A
/// device registered through the provider with an X.509 (self-signed, thumbprint) credential publishes pre-encoded
/// 512-record batches (QoS 1, MQTT 3.1.1, TLS) on <c>devices/{id}/messages/events/</c> with the content-type properties the
/// provider's own transport sets; the hub acknowledges after the message is on the endpoint. The baseline publishes the same
/// batches with nobody reading: the hub routes them to the endpoint either way, so the ratio is what reading over AMQP and
/// decoding add. Each benchmark method runs in its own process with its own hub, so the reader starts from the oldest event
/// (it sees only this method's records) and cannot miss the first batch to the unobserved moment its AMQP link opens.
/// Mean is ns per record.
/// The double keeps every message it receives (its tests inspect them) and copies a partition's event array on each append,
/// so its cost per batch grows with the events already there. A fixed invocation count gives both rows the same number of
/// batches in the same stages; with BenchmarkDotNet's automatic count the faster row would run more invocations and pay more
/// of that growth (run 1 of benchmarks/README.md: 64 against 7 invocations per iteration).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(EndToEndConfig))]
[InvocationCount(8)]
public class AzureReadEndToEndBenchmarks
{
    private const int N = EndToEndBenchmarks.RecordCount;

    // The topic AzureTelemetryTransport builds minus the per-payload message id: content type and encoding as system properties.
    private static readonly string Topic = $"devices/{FleetReader.DeviceId}/messages/events/$.ct=application%2Fjson&$.ce=utf-8";

    private readonly FleetReader _reader = new();
    private ReadOnlyMemory<byte>[] _batches = [];
    private IotHubDouble _hub = null!;
    private AzureIoTProvider _provider = null!;
    private MqttDeviceClient _client = null!;

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        _batches = FleetReader.PreEncodedBatches(N, FleetReader.Batch);
        _hub = await IotHubDouble.StartAsync();
        _provider = IotHubDoubleProviders.Create(_hub, o => o.EventHub = new AzureEventHubOptions
        {
            ConnectionString = _hub.EventHubs!.ConnectionString,
            StartFromEarliest = true,
        });
        var device = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = FleetReader.DeviceId, Credential = CredentialRequest.X509 });
        // An X.509 device sends the hub's user name and no password; the double checks the certificate's thumbprint.
        var userName = $"{IotHubDouble.HubHost}/{FleetReader.DeviceId}/?api-version=2021-04-12";
        _client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = _hub.MqttPort,
            ClientId = FleetReader.DeviceId,
            ClientCertificate = device.Credential!.ToCertificate(),
            TrustedRoots = [_hub.CaCertificate],
            CredentialProvider = _ => ValueTask.FromResult(new MqttCredentials(userName, null)),
            Version = MqttVersion.Mqtt311,
        }, "Azure");
        await _client.ConnectAsync();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _reader.Dispose();
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _provider.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _hub.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = N, Description = "Azure: publish pre-encoded via IoT Hub double, routed to its Event Hubs endpoint, nobody reads")]
    public Task PublishOnly() => FleetReader.PublishAllAsync(_client, Topic, _batches);

    [Benchmark(OperationsPerInvoke = N, Description = "Azure: publish pre-encoded + provider Telemetry.ReadAllAsync (AMQP) of every record")]
    public async Task PublishAndRead()
    {
        _reader.Start(_provider.Telemetry);
        await FleetReader.PublishAllAsync(_client, Topic, _batches).ConfigureAwait(false);
        await _reader.ReadAsync(N).ConfigureAwait(false);
    }
}
