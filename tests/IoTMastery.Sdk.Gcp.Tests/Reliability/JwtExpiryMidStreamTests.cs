using IoTMastery.Sdk.TestSupport;
using IoTMastery.Sdk.CloudDoubles.CredentialExpiry;
using IoTMastery.Sdk.Mqtt;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Gcp.Tests.Reliability;

/// <summary>
/// JWT expiry mid-stream: telemetry flows through the TelemetryPipeline of a <see cref="GcpDeviceConnection"/> (bridge
/// events route) while the device JWT expires several times. The bridge double verifies the JWT
/// signature with the device's registered public key and <c>aud</c>/<c>iat</c>/<c>exp</c> at CONNECT and cuts a session
/// whose JWT expired. Device and bridge share a clock running 4× real time, so the SDK's shortest JWT lifetime (1 min)
/// lasts 15 s. The pipeline runs on that clock too (linger, backoff, timeouts 5× shorter in real time).
/// </summary>
[Collection(CredentialExpiryTiming.Name)]
public sealed class JwtExpiryMidStreamTests(ITestOutputHelper output) : IDisposable
{
    private const double SpeedUp = 4;
    private const int MinRecords = 20_000;
    private const int MinRenewals = 3;
    private static readonly CloudIotRegistryName Registry = new("proj-1", "us-central1", "reg-1");
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly string _outboxDir = Directory.CreateTempSubdirectory("iotm-jwt-outbox-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_outboxDir, recursive: true); } catch (IOException) { }
    }

    private TelemetryPipelineOptions Pipeline(bool durable) => durable
        ? new TelemetryPipelineOptions { Outbox = new TelemetryOutboxOptions { Directory = _outboxDir }, Encoder = TelemetryJsonEncoder.WithSequence }
        : new TelemetryPipelineOptions();

    // The bridge route of GcpDeviceConnection (events topic, 256 KB messages, 100 per second), for the hand-built negative control.
    private static MqttTelemetryTransport Transport(MqttDeviceClient client, string deviceId) =>
        new(client, GcpBridgeClient.Topic(deviceId, "events"), new TelemetryTransportLimits { MaxMessageBytes = 256 * 1024, MaxMessagesPerSecond = 100 });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Jwt_renewal_under_a_continuous_stream_reconnects_before_every_expiry_and_loses_no_record(bool durable)
    {
        var clock = new AcceleratedClock(SpeedUp);
        var (publicPem, privatePem, format) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        await using var bridge = await CloudIotBridgeDouble.StartAsync(Registry, id => id == "dev-jwt" ? [(format, publicPem)] : [], clock);
        using var http = new HttpClient();
        var endpoint = new GcpDeviceEndpoint(new GcpIoTOptions
        {
            ProjectId = Registry.ProjectId, Location = Registry.Location, RegistryId = Registry.RegistryId,
            Transport = { DeviceHost = "localhost", DevicePort = bridge.Port, TrustedRoots = bridge.TrustedRoots }, JwtLifetime = Lifetime,
        }, new PubSubClient(http, Registry.ProjectId, null, NoAuthenticator.Instance)); // Pub/Sub is unused on the bridge-events route.
        var credential = new IssuedCredential(new CredentialInfo { Id = DeviceKeys.Fingerprint(publicPem), Kind = CredentialKind.PublicKey }, privateKeyPem: privatePem, publicKeyPem: publicPem);
        var clientId = Registry.Device("dev-jwt");
        int written;
        // The connection's pipeline and MQTT client share the accelerated clock, as GcpDeviceConnection shares the provider's.
        var device = new GcpDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-jwt", Credential = credential, Telemetry = Pipeline(durable) },
            endpoint, clock, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        try
        {
            await device.ConnectAsync().WaitAsync(Bound);
            int Renewals() => bridge.CredentialSessions.Connects.Count(c => c.ClientId == clientId && c.Accepted) - 1;
            written = await MidStreamRun.StreamAsync("dev-jwt", r => device.SendTelemetryAsync(r), n => n >= MinRecords && Renewals() >= MinRenewals, deadline: TimeSpan.FromSeconds(120));
            await device.FlushAsync().WaitAsync(Bound);
        }
        finally
        {
            await device.DisposeAsync();
        }

        var figures = MidStreamRun.Judge(written, bySequence: durable, bridge.Events.Select(e => (e.At, e.Payload)), clientId, bridge.CredentialSessions, SpeedUp);
        output.WriteLine($"GCP JWT, lifetime {Lifetime.TotalSeconds:0} s at {SpeedUp}x = {(Lifetime / SpeedUp).TotalSeconds:0} s real, margin {(Lifetime * 0.2 / SpeedUp).TotalSeconds:0.0} s real, " +
            $"{(durable ? "durable (outbox, dedup by \"s\")" : "in-memory (dedup by value)")}: {figures}");
        Assert.Empty(figures.Problems);
        Assert.Equal(0, figures.Lost);
        Assert.Equal(written, figures.Distinct);
        Assert.True(figures.Renewals >= MinRenewals, $"{figures.Renewals} renewals");
        Assert.Equal(0, figures.Refusals);
        Assert.Equal(0, figures.Cuts);
        Assert.True(figures.MinRenewalBeforeExpiry > TimeSpan.Zero, "a renewal CONNECT came after the previous JWT's expiry");
        // A planned renewal drains: publishes in flight get their PUBACK before the old connection closes, so none is resent.
        Assert.Equal(0, figures.Duplicates);
    }

    [Fact]
    public async Task The_bridge_double_refuses_a_jwt_that_is_expired_not_yet_valid_for_another_project_or_signed_by_another_key()
    {
        var clock = new AcceleratedClock(1);
        var (publicPem, privatePem, format) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        var (_, otherKey, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        await using var bridge = await CloudIotBridgeDouble.StartAsync(Registry, id => id == "dev-a" ? [(format, publicPem)] : [], clock);
        var now = clock.GetUtcNow();
        var cases = new (string Name, string ClientId, string Jwt, string Refusal)[]
        {
            ("expired", Registry.Device("dev-a"), DeviceJwt.Create("proj-1", privatePem, now.AddMinutes(-2), TimeSpan.FromMinutes(1)), "JWT expired"),
            ("future iat", Registry.Device("dev-a"), DeviceJwt.Create("proj-1", privatePem, now.AddMinutes(5), TimeSpan.FromMinutes(10)), "iat is in the future"),
            ("other audience", Registry.Device("dev-a"), DeviceJwt.Create("proj-2", privatePem, now, TimeSpan.FromMinutes(10)), "aud is not the project id"),
            ("other key", Registry.Device("dev-a"), DeviceJwt.Create("proj-1", otherKey, now, TimeSpan.FromMinutes(10)), "signature does not verify with a registered key"),
            ("unregistered device", Registry.Device("dev-b"), DeviceJwt.Create("proj-1", privatePem, now, TimeSpan.FromMinutes(10)), "signature does not verify with a registered key"),
            ("other registry", new CloudIotRegistryPath("proj-1", "us-central1", "reg-2").Device("dev-a"), DeviceJwt.Create("proj-1", privatePem, now, TimeSpan.FromMinutes(10)), "client id is not a device of this registry"),
        };
        foreach (var (name, clientId, jwt, refusal) in cases)
        {
            await using var client = new MqttDeviceClient(ClientOptions(bridge, clientId, _ => ValueTask.FromResult(new MqttCredentials("unused", jwt))));
            await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => client.ConnectAsync().WaitAsync(Bound));
            Assert.Equal(refusal, bridge.CredentialSessions.Connects[^1].Refusal);
            output.WriteLine($"{name}: refused ({refusal})");
        }
        var valid = DeviceJwt.Create("proj-1", privatePem, now, TimeSpan.FromMinutes(10));
        await using var good = new MqttDeviceClient(ClientOptions(bridge, Registry.Device("dev-a"), _ => ValueTask.FromResult(new MqttCredentials("unused", valid))));
        await good.ConnectAsync().WaitAsync(Bound);
        Assert.True(bridge.CredentialSessions.Connects[^1].Accepted);
    }

    [Fact]
    public async Task Without_renewal_the_bridge_cuts_the_session_at_exp_and_the_durable_pipeline_replays_everything_over_a_fresh_jwt()
    {
        var clock = new AcceleratedClock(SpeedUp);
        var (publicPem, privatePem, format) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        await using var bridge = await CloudIotBridgeDouble.StartAsync(Registry, id => id == "dev-late" ? [(format, publicPem)] : [], clock);
        var lifetime = TimeSpan.FromSeconds(24); // 6 s real
        var clientId = Registry.Device("dev-late");
        var tokens = 0;
        // Renewal disabled: the credentials carry no expiry, so the client reconnects only after the bridge cuts it.
        await using var client = new MqttDeviceClient(ClientOptions(bridge, clientId, _ =>
        {
            Interlocked.Increment(ref tokens);
            return ValueTask.FromResult(new MqttCredentials("unused", DeviceJwt.Create("proj-1", privatePem, clock.GetUtcNow(), lifetime)));
        }), GoogleApiErrors.Provider, clock);
        int written;
        long failed;
        await using (var pipeline = new TelemetryPipeline(Transport(client, "dev-late"), Pipeline(durable: true)))
        {
            await client.ConnectAsync().WaitAsync(Bound);
            // Goal: two cuts and a CONNECT with a fresh credential after the second, as the peer saw them.
            written = await MidStreamRun.StreamAsync("dev-late", r => pipeline.WriteAsync(r),
                n => n >= 5_000 && bridge.CredentialSessions.Cuts.Count >= 2 && bridge.CredentialSessions.Connects.Count(c => c.ClientId == clientId && c.Accepted) >= 3, deadline: TimeSpan.FromSeconds(90), perTick: 20);
            await pipeline.FlushAsync().WaitAsync(Bound);
            failed = pipeline.FailedRecords;
        }

        var figures = MidStreamRun.Judge(written, bySequence: true, bridge.Events.Select(e => (e.At, e.Payload)), clientId, bridge.CredentialSessions, SpeedUp);
        var cuts = bridge.CredentialSessions.Cuts;
        output.WriteLine($"GCP JWT negative control, lifetime {lifetime.TotalSeconds:0} s at {SpeedUp}x, renewal off, durable: {figures}; JWTs issued {tokens}; " +
            $"cut delay after exp (real): {string.Join(", ", cuts.Select(c => $"{((c.At - c.ExpiredAt) / SpeedUp).TotalMilliseconds:0} ms"))}");
        Assert.True(cuts.Count >= 2, $"{cuts.Count} cuts");
        Assert.All(cuts, c => Assert.InRange(c.At - c.ExpiredAt, TimeSpan.Zero, TimeSpan.FromSeconds(5) * SpeedUp));
        Assert.Empty(figures.Problems);
        Assert.Equal(0, failed);
        Assert.Equal(0, figures.Lost);
        Assert.Equal(written, figures.Distinct);
        Assert.True(tokens >= 3, $"{tokens} tokens");
        var options = Pipeline(durable: true);
        Assert.True(figures.Duplicates <= cuts.Count * options.MaxBatchRecords * options.MaxPendingBatches, $"{figures.Duplicates} duplicates");
    }

    private static MqttDeviceClientOptions ClientOptions(CloudIotBridgeDouble bridge, string clientId, MqttCredentialProvider credentials) => new()
    {
        Host = "localhost", Port = bridge.Port, ClientId = clientId, TrustedRoots = bridge.TrustedRoots, CredentialProvider = credentials,
        Version = MqttVersion.Mqtt311, ReconnectBaseDelay = TimeSpan.FromMilliseconds(200), ReconnectMaxDelay = TimeSpan.FromSeconds(2),
    };
}

/// <summary>Timing-sensitive runs go alone, after the parallel tests, so a loaded machine eats less of the renewal margin.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CredentialExpiryTiming
{
    public const string Name = "Credential expiry timing";
}
