using IoTMastery.Sdk.TestSupport;
using IoTMastery.Sdk.CloudDoubles.CredentialExpiry;
using IoTMastery.Sdk.Mqtt;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Azure.Tests.Reliability;

/// <summary>
/// SAS expiry mid-stream: telemetry flows through the device's TelemetryPipeline while its SAS token (12 s, real time)
/// expires several times. The IoT Hub double checks signature and <c>se</c> at CONNECT and cuts a session whose token
/// expired, so a late renewal would show as a cut or a refused CONNECT.
/// </summary>
[Collection(CredentialExpiryTiming.Name)]
public sealed class SasExpiryMidStreamTests(ITestOutputHelper output) : IDisposable
{
    private static readonly CredentialRequest SasKey = new() { Kind = CredentialKind.SymmetricKey };
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(12);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private const int MinRecords = 20_000;
    private const int MinRenewals = 3;
    private readonly string _outboxDir = Directory.CreateTempSubdirectory("iotm-sas-outbox-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_outboxDir, recursive: true); } catch (IOException) { }
    }

    private TelemetryPipelineOptions Pipeline(bool durable) => durable
        ? new TelemetryPipelineOptions { Outbox = new TelemetryOutboxOptions { Directory = _outboxDir }, Encoder = TelemetryJsonEncoder.WithSequence }
        : new TelemetryPipelineOptions();

    private static AzureDeviceEndpoint Endpoint(IotHubDouble hub, TimeSpan ttl) => new()
    {
        // The provider's options refuse a SAS lifetime under 5 minutes; the endpoint is what they become, so the test sets it directly.
        HostName = IotHubDouble.HubHost, GatewayHost = "localhost", Port = hub.MqttPort, TrustedRoots = [hub.CaCertificate], SasTimeToLive = ttl,
        ReconnectBaseDelay = TimeSpan.FromMilliseconds(200), ReconnectMaxDelay = TimeSpan.FromSeconds(2),
    };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Sas_renewal_under_a_continuous_stream_reconnects_before_every_expiry_and_loses_no_record(bool durable)
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-sas", Credential = SasKey });
        var device = new AzureDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-sas", Credential = registered.Credential!, Telemetry = Pipeline(durable) },
            Endpoint(hub, Ttl), TimeProvider.System, null);
        int written;
        try
        {
            await device.ConnectAsync().WaitAsync(Bound);
            int Renewals() => hub.CredentialSessions.Connects.Count(c => c.ClientId == "dev-sas" && c.Accepted) - 1;
            written = await MidStreamRun.StreamAsync("dev-sas", r => device.SendTelemetryAsync(r),
                n => n >= MinRecords && Renewals() >= MinRenewals, deadline: TimeSpan.FromSeconds(120));
            await device.FlushAsync().WaitAsync(Bound);
        }
        finally
        {
            await device.DisposeAsync();
        }

        var figures = MidStreamRun.Judge(written, bySequence: durable, hub.TelemetryArrivals.Select(a => (a.At, a.Payload)), "dev-sas", hub.CredentialSessions);
        output.WriteLine($"Azure SAS, TTL {Ttl.TotalSeconds:0} s, margin {(Ttl / 4).TotalSeconds:0.0} s, {(durable ? "durable (outbox, dedup by \"s\")" : "in-memory (dedup by value)")}: {figures}");
        Assert.Empty(figures.Problems);
        Assert.Equal(0, figures.Lost);
        Assert.Equal(written, figures.Distinct);
        Assert.True(figures.Renewals >= MinRenewals, $"{figures.Renewals} renewals");
        Assert.Equal(0, figures.Refusals);
        Assert.Equal(0, figures.Cuts);
        Assert.True(figures.MinRenewalBeforeExpiry > TimeSpan.Zero, "a renewal CONNECT came after the previous token's expiry");
        // A planned renewal drains: publishes in flight get their PUBACK before the old connection closes, so none is resent.
        Assert.Equal(0, figures.Duplicates);
    }

    [Fact]
    public async Task Without_renewal_the_hub_cuts_the_session_at_expiry_and_the_durable_pipeline_replays_everything_over_a_fresh_token()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-late", Credential = SasKey });
        var key = registered.Credential!.SymmetricKey!;
        var ttl = TimeSpan.FromSeconds(5);
        var userName = $"{IotHubDouble.HubHost}/dev-late/?api-version={IotHubDouble.ApiVersion}";
        var resource = SasToken.DeviceResource(IotHubDouble.HubHost, "dev-late");

        // The CONNECT check is real: a token already past its se is refused.
        await using (var stale = new MqttDeviceClient(ClientOptions(hub, "dev-late", _ => ValueTask.FromResult(new MqttCredentials(userName, SasToken.Create(resource, key, DateTimeOffset.UtcNow.AddSeconds(-2)))))))
            await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => stale.ConnectAsync().WaitAsync(Bound));
        Assert.Contains(hub.CredentialSessions.Connects, c => c.ClientId == "dev-late" && !c.Accepted && c.Refusal == "SAS expired");

        // Renewal disabled: the client is not told when the token expires, so it reconnects only after the hub cuts it.
        var tokens = 0;
        await using var client = new MqttDeviceClient(ClientOptions(hub, "dev-late", _ =>
        {
            Interlocked.Increment(ref tokens);
            return ValueTask.FromResult(new MqttCredentials(userName, SasToken.Create(resource, key, DateTimeOffset.UtcNow + ttl)));
        }), "Azure");
        int written;
        long failed;
        await using (var pipeline = new TelemetryPipeline(new AzureTelemetryTransport(client, "dev-late", null), Pipeline(durable: true)))
        {
            await client.ConnectAsync().WaitAsync(Bound);
            // Goal: two cuts and a CONNECT with a fresh credential after the second, as the peer saw them.
            written = await MidStreamRun.StreamAsync("dev-late", r => pipeline.WriteAsync(r),
                n => n >= 5_000 && hub.CredentialSessions.Cuts.Count >= 2 && hub.CredentialSessions.Connects.Count(c => c.ClientId == "dev-late" && c.Accepted) >= 3, deadline: TimeSpan.FromSeconds(90), perTick: 20);
            await pipeline.FlushAsync().WaitAsync(Bound);
            failed = pipeline.FailedRecords;
        }

        var figures = MidStreamRun.Judge(written, bySequence: true, hub.TelemetryArrivals.Select(a => (a.At, a.Payload)), "dev-late", hub.CredentialSessions);
        var cuts = hub.CredentialSessions.Cuts;
        output.WriteLine($"Azure SAS negative control, TTL {ttl.TotalSeconds:0} s, renewal off, durable: {figures}; tokens issued {tokens}; " +
            $"cut delay after se: {string.Join(", ", cuts.Select(c => $"{(c.At - c.ExpiredAt).TotalMilliseconds:0} ms"))}");
        Assert.True(cuts.Count >= 2, $"{cuts.Count} cuts");
        Assert.All(cuts, c => Assert.InRange(c.At - c.ExpiredAt, TimeSpan.Zero, TimeSpan.FromSeconds(5)));
        Assert.Empty(figures.Problems);
        Assert.Equal(0, failed);
        Assert.Equal(0, figures.Lost);
        Assert.Equal(written, figures.Distinct);
        Assert.True(tokens >= 3, $"{tokens} tokens");
        var options = Pipeline(durable: true);
        Assert.True(figures.Duplicates <= cuts.Count * options.MaxBatchRecords * options.MaxPendingBatches, $"{figures.Duplicates} duplicates");
    }

    private static MqttDeviceClientOptions ClientOptions(IotHubDouble hub, string deviceId, MqttCredentialProvider credentials) => new()
    {
        Host = "localhost", Port = hub.MqttPort, ClientId = deviceId, TrustedRoots = [hub.CaCertificate], CredentialProvider = credentials,
        Version = MqttVersion.Mqtt311, CleanSession = false, ReconnectBaseDelay = TimeSpan.FromMilliseconds(200), ReconnectMaxDelay = TimeSpan.FromSeconds(2),
    };
}

/// <summary>Timing-sensitive runs go alone, after the parallel tests, so a loaded machine eats less of the renewal margin.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CredentialExpiryTiming
{
    public const string Name = "Credential expiry timing";
}
