using IoTMastery.Sdk.TestSupport;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Local.Tests;

public sealed class MqttDeviceClientTests
{
    private static readonly TimeSpan Timeout = BrokerTestHost.Timeout;

    [Fact]
    public async Task Backoff_uses_full_jitter_below_a_doubling_cap_bounded_by_the_max_delay()
    {
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost", ClientId = "c", ReconnectBaseDelay = TimeSpan.FromMilliseconds(100), ReconnectMaxDelay = TimeSpan.FromSeconds(2),
        });

        for (var attempt = 0; attempt < 40; attempt++)
        {
            var cap = Math.Min(100 * Math.Pow(2, attempt), 2000);
            for (var i = 0; i < 20; i++)
            {
                var delay = client.BackoffDelay(attempt).TotalMilliseconds;
                Assert.InRange(delay, 0, cap);
            }
        }
    }

    [Theory]
    [InlineData("", 8883, "c")]
    [InlineData("h", 0, "c")]
    [InlineData("h", 8883, "")]
    [InlineData("h", 8883, "a+b")]
    public void Invalid_options_are_rejected_with_an_argument_exception(string host, int port, string clientId)
    {
        Assert.ThrowsAny<ArgumentException>(() => new MqttDeviceClient(new MqttDeviceClientOptions { Host = host, Port = port, ClientId = clientId }));
    }

    [Fact]
    public async Task Bad_topics_are_rejected_before_the_network()
    {
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions { Host = "localhost", ClientId = "c" });

        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("a/+/b", default));
        await Assert.ThrowsAsync<ArgumentException>(() => client.SubscribeAsync("a/#/b", (_, _) => ValueTask.CompletedTask));
        await Assert.ThrowsAsync<ArgumentException>(() => client.SubscribeAsync("a/b+", (_, _) => ValueTask.CompletedTask));
    }

    [Fact]
    public async Task A_first_connect_that_fails_transiently_is_retried_with_backoff_until_the_broker_is_up()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-1").ToCertificate();
        await host.Broker.StopAsync().WaitAsync(Timeout); // the port stays reserved for the restart: connects are refused now
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1", Port = host.Broker.Port, ClientId = "dev-1", ClientCertificate = cert, TrustedRoots = [host.Ca.Certificate],
        }, "Local", clock);

        // Default options: the caller's first ConnectAsync rides out a broker that is not up yet.
        var start = clock.GetUtcNow();
        var connect = client.ConnectAsync();
        await Task.Delay(TimeSpan.FromMilliseconds(300)); // real time for the refused attempt; the client's clock stands still
        Assert.False(connect.IsCompleted, "a refused first connect was not retried");
        await host.Broker.StartAsync().WaitAsync(Timeout);
        // Each retry waits U(0, cap) with the cap doubling from ReconnectBaseDelay: stepping the clock reaches the next attempt.
        while (!connect.IsCompleted && clock.GetUtcNow() - start < TimeSpan.FromSeconds(20))
        {
            clock.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }

        await connect.WaitAsync(Timeout);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task First_connect_retries_stop_at_the_budget_with_the_transient_error()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        // A real peer that accepts and hangs up at once: every attempt fails fast and transiently.
        using var peer = new HangingUpPeer();
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1", Port = peer.Port, ClientId = "dev-1", TrustedRoots = [],
            ReconnectBaseDelay = TimeSpan.FromSeconds(1), ReconnectMaxDelay = TimeSpan.FromSeconds(4), ConnectRetryBudget = TimeSpan.FromSeconds(10),
        }, "Test", clock);
        var start = clock.GetUtcNow();

        var connect = client.ConnectAsync();
        while (!connect.IsCompleted && clock.GetUtcNow() - start < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(30));
            clock.Advance(TimeSpan.FromMilliseconds(250));
        }

        var ex = await Assert.ThrowsAsync<IoTException>(() => connect.WaitAsync(Timeout));
        Assert.True(ex.IsTransient);
        // Caps 1, 2, 4, 4… s: by 7 s at least four attempts were due; none may start once 10 s are spent.
        Assert.True(peer.Accepted >= 4, $"only {peer.Accepted} attempts within the budget");
        Assert.True(clock.GetUtcNow() - start <= TimeSpan.FromSeconds(10) + TimeSpan.FromMilliseconds(500), $"still retrying at {clock.GetUtcNow() - start}");
    }

    [Fact]
    public async Task Cancelling_a_first_connect_ends_its_retries()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var peer = new HangingUpPeer();
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1", Port = peer.Port, ClientId = "dev-1", TrustedRoots = [],
        }, "Test", clock);
        using var cts = new CancellationTokenSource();

        var connect = client.ConnectAsync(cts.Token);
        await TestWaits.UntilAsync(() => peer.Accepted >= 1, Timeout);
        await Task.Delay(TimeSpan.FromMilliseconds(100)); // the attempt failed and the retry waits on the client's clock
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connect.WaitAsync(Timeout));
        var attempts = peer.Accepted;
        clock.Advance(TimeSpan.FromMinutes(2));
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        Assert.Equal(attempts, peer.Accepted);
    }

    [Fact]
    public async Task A_refused_credential_is_tried_once_even_with_a_retry_budget()
    {
        await using var host = await BrokerTestHost.StartAsync();
        var credential = host.AddDevice("dev-1");
        host.Policy.Revoke("dev-1", credential.Id);
        using var cert = credential.ToCertificate();
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1", Port = host.Broker.Port, ClientId = "dev-1", ClientCertificate = cert, TrustedRoots = [host.Ca.Certificate],
            ConnectRetryBudget = TimeSpan.FromMinutes(5),
        }, "Local");

        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => client.ConnectAsync().WaitAsync(Timeout));
        Assert.Equal(1, host.Policy.Calls);
    }

    [Fact]
    public async Task The_connect_timeout_and_retry_budget_of_a_device_connection_reach_its_mqtt_client()
    {
        await using var host = await BrokerTestHost.StartAsync();
        var credential = host.AddDevice("dev-1");
        // A peer that accepts and never answers the ClientHello: only the connect timeout ends an attempt.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        await using var device = new LocalDeviceConnection(
            new DeviceConnectionOptions { DeviceId = "dev-1", Credential = credential, ConnectTimeout = TimeSpan.FromMilliseconds(500), ConnectRetryBudget = TimeSpan.Zero },
            new LocalDeviceEndpoint { Port = port, CaCertificate = host.Ca.Certificate });

        // With the fixed 10 s timeout this could not end inside the 5 s wait.
        var ex = await Assert.ThrowsAsync<IoTException>(() => device.ConnectAsync().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("ConnectTimeout", ex.ErrorCode);
        Assert.True(ex.IsTransient);

        Assert.Throws<ArgumentOutOfRangeException>(() => new LocalDeviceConnection(
            new DeviceConnectionOptions { DeviceId = "dev-1", Credential = credential, ConnectTimeout = TimeSpan.Zero },
            new LocalDeviceEndpoint { Port = port, CaCertificate = host.Ca.Certificate }));
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => new LocalDeviceConnection(
            new DeviceConnectionOptions { DeviceId = "dev-1", Credential = credential, ConnectRetryBudget = TimeSpan.FromSeconds(-1) },
            new LocalDeviceEndpoint { Port = port, CaCertificate = host.Ca.Certificate }));
        Assert.Equal("ConnectRetryBudget", negative.ParamName);
    }

    [Fact]
    public async Task A_missing_client_certificate_is_an_authentication_error_not_a_transient_connect_failure()
    {
        // The Local broker asks for a certificate and aborts the handshake without one; under TLS 1.3 the client only
        // learns it when it reads the CONNACK. Either way it is a misconfiguration that no retry fixes.
        await using var host = await BrokerTestHost.StartAsync();
        host.AddDevice("dev-1");
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1", Port = host.Broker.Port, ClientId = "dev-1", TrustedRoots = [host.Ca.Certificate],
        }, "Local");

        var ex = await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => client.ConnectAsync().WaitAsync(Timeout));

        Assert.Equal("ClientCertificateRequired", ex.ErrorCode);
        Assert.False(ex.IsTransient);
        Assert.Equal(0, host.Policy.Calls);
    }

    [Fact]
    public async Task Expiring_credentials_are_renewed_by_reconnecting_before_they_expire()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-1").ToCertificate();
        var issued = new StrongBox<int>();
        var secondConnect = TestWaits.NewSignal<bool>();
        var connects = 0;
        await using var client = RenewingClient(host, cert, clock, issued, () => clock.GetUtcNow().AddMinutes(5));
        client.Connected += (_, _) =>
        {
            if (Interlocked.Increment(ref connects) == 2) secondConnect.TrySetResult(true);
        };
        var disconnects = new System.Collections.Concurrent.ConcurrentQueue<bool>();
        client.Disconnected += (_, e) => disconnects.Enqueue(e.WillReconnect);
        await client.ConnectAsync().WaitAsync(Timeout);

        clock.Advance(TimeSpan.FromMinutes(4) + TimeSpan.FromSeconds(1));

        await secondConnect.Task.WaitAsync(Timeout);
        Assert.Equal(2, Volatile.Read(ref issued.Value));
        Assert.True(client.IsConnected);
        // One event for the renewal, and it says the client reconnects (its own DISCONNECT used to add a "will not reconnect").
        Assert.Equal([true], disconnects.ToArray());
        Assert.Contains("redacted", new MqttCredentials("u", "secret-token").ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("secret-token", new MqttCredentials("u", "secret-token").ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_credential_shorter_than_the_renewal_margin_is_renewed_at_half_its_life_not_in_a_loop()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-1").ToCertificate();
        var issued = new StrongBox<int>();
        var secondConnect = TestWaits.NewSignal<bool>();
        // 30 s of life with a 60 s margin: without the guard the client renewed immediately after every connect.
        await using var client = RenewingClient(host, cert, clock, issued, () => clock.GetUtcNow().AddSeconds(30));
        client.Connected += (_, _) => { if (Volatile.Read(ref issued.Value) == 2) secondConnect.TrySetResult(true); };
        await client.ConnectAsync().WaitAsync(Timeout);

        // Real time passes (the broker runs on it) but the client's clock does not: no renewal may happen.
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.Equal(1, Volatile.Read(ref issued.Value));

        clock.Advance(TimeSpan.FromSeconds(14));
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, Volatile.Read(ref issued.Value));

        clock.Advance(TimeSpan.FromSeconds(1)); // half of the 30 s life
        await secondConnect.Task.WaitAsync(Timeout);
        Assert.Equal(2, Volatile.Read(ref issued.Value));
    }

    /// <summary>
    /// A client of "dev-1" on <paramref name="host"/> with a 60 s renewal margin, whose credential provider counts what it
    /// issued in <paramref name="issued"/> and gives each credential the expiry <paramref name="expiresAt"/> returns.
    /// </summary>
    private static MqttDeviceClient RenewingClient(BrokerTestHost host, X509Certificate2 cert, FakeTimeProvider clock, StrongBox<int> issued, Func<DateTimeOffset> expiresAt) =>
        new(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1",
            Port = host.Broker.Port,
            ClientId = "dev-1",
            ClientCertificate = cert,
            TrustedRoots = [host.Ca.Certificate],
            CredentialRenewalMargin = TimeSpan.FromSeconds(60),
            CredentialProvider = _ =>
            {
                var n = Interlocked.Increment(ref issued.Value);
                return ValueTask.FromResult(new MqttCredentials("dev-1", $"token-{n}", expiresAt()));
            },
        }, "Test", clock);

    [Fact]
    public async Task A_renewal_waits_for_the_puback_in_flight_and_sends_publishes_issued_meanwhile_on_the_new_connection()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var expiry = clock.GetUtcNow().AddMinutes(5);
        await using var broker = await HeldPubAckBroker.StartAsync();
        using var cert = broker.AddDevice("dev-1");
        var issued = 0;
        await using var client = new MqttDeviceClient(broker.ClientOptions("dev-1", cert) with
        {
            CredentialRenewalMargin = TimeSpan.FromSeconds(60),
            CredentialProvider = _ =>
            {
                var n = Interlocked.Increment(ref issued);
                // The first credential expires at a fixed instant; the renewal must land before it.
                return ValueTask.FromResult(new MqttCredentials("dev-1", $"token-{n}", n == 1 ? expiry : clock.GetUtcNow().AddMinutes(5)));
            },
        }, "Test", clock);
        var disconnects = 0;
        client.Disconnected += (_, _) => Interlocked.Increment(ref disconnects);
        await client.ConnectAsync().WaitAsync(Timeout);

        // The broker holds the PUBACK of "held" until released: it is in flight when the renewal timer fires.
        var held = client.PublishAsync(HeldPubAckBroker.Topic("dev-1"), HeldPubAckBroker.Patch("held"));
        await broker.Sink.HeldArrived.Task.WaitAsync(Timeout);
        clock.Advance(TimeSpan.FromMinutes(4) + TimeSpan.FromSeconds(1));
        Assert.True(client.IsRenewing);
        var during = client.PublishAsync(HeldPubAckBroker.Topic("dev-1"), HeldPubAckBroker.Patch("during"));

        // Real time passes, the client's clock does not: the renewal keeps the old connection while its PUBACK is due.
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, Volatile.Read(ref issued));
        Assert.Equal(0, Volatile.Read(ref disconnects));
        Assert.True(client.IsConnected);
        Assert.False(held.IsCompleted);
        Assert.False(during.IsCompleted, "a publish started while the renewal drained");
        Assert.DoesNotContain(broker.Sink.Arrivals, a => a.Name == "during");

        broker.Sink.Release();
        await held.WaitAsync(Timeout); // acknowledged on the old connection: the caller has no reason to send it again
        await during.WaitAsync(Timeout);

        Assert.Equal(2, Volatile.Read(ref issued));
        Assert.NotEqual(0, Volatile.Read(ref disconnects));
        Assert.True(client.IsConnected);
        Assert.False(client.IsRenewing);
        // Stamped with the broker's count of CONNECTs at arrival: "held" once on the first connection, "during" once on the second.
        Assert.Equal(new[] { ("held", 1), ("during", 2) }, broker.Sink.Arrivals.ToArray());
        Assert.True(clock.GetUtcNow() < expiry);
    }

    [Fact]
    public async Task A_puback_that_never_comes_holds_the_renewal_only_until_its_bound_and_the_credential_is_still_renewed_before_expiry()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var expiry = clock.GetUtcNow().AddMinutes(5);
        await using var broker = await HeldPubAckBroker.StartAsync();
        using var cert = broker.AddDevice("dev-1");
        var issued = 0;
        var secondConnect = TestWaits.NewSignal<bool>();
        await using var client = new MqttDeviceClient(broker.ClientOptions("dev-1", cert) with
        {
            CredentialRenewalMargin = TimeSpan.FromSeconds(60),
            // Bound = min(OperationTimeout 20 s, half of the 60 s left) = 20 s on the client's clock.
            OperationTimeout = TimeSpan.FromSeconds(20),
            CredentialProvider = _ =>
            {
                var n = Interlocked.Increment(ref issued);
                return ValueTask.FromResult(new MqttCredentials("dev-1", $"token-{n}", n == 1 ? expiry : clock.GetUtcNow().AddMinutes(5)));
            },
        }, "Test", clock);
        Assert.Equal(TimeSpan.FromSeconds(20), client.DrainBound(clock.GetUtcNow().AddSeconds(60)));
        Assert.Equal(TimeSpan.FromSeconds(5), client.DrainBound(clock.GetUtcNow().AddSeconds(10)));
        Assert.Equal(TimeSpan.Zero, client.DrainBound(clock.GetUtcNow().AddSeconds(-1)));
        // The broker's PUBACK stays held until the old connection is gone.
        client.Disconnected += (_, _) => broker.Sink.Release();
        client.Connected += (_, _) => { if (Volatile.Read(ref issued) == 2) secondConnect.TrySetResult(true); };
        await client.ConnectAsync().WaitAsync(Timeout);

        var held = client.PublishAsync(HeldPubAckBroker.Topic("dev-1"), HeldPubAckBroker.Patch("held"));
        await broker.Sink.HeldArrived.Task.WaitAsync(Timeout);
        clock.Advance(TimeSpan.FromMinutes(4) + TimeSpan.FromSeconds(1));
        Assert.True(client.IsRenewing);

        clock.Advance(TimeSpan.FromSeconds(19));
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, Volatile.Read(ref issued));
        Assert.True(client.IsConnected);
        Assert.False(held.IsCompleted);

        clock.Advance(TimeSpan.FromSeconds(1));
        await secondConnect.Task.WaitAsync(Timeout);
        Assert.True(clock.GetUtcNow() < expiry);
        // Only now, at the bound, is the unacknowledged publish given up: the one case a caller may send again.
        var lost = await Assert.ThrowsAsync<IoTException>(() => held.WaitAsync(Timeout));
        Assert.True(lost.IsTransient);
        await client.PublishAsync(HeldPubAckBroker.Topic("dev-1"), HeldPubAckBroker.Patch("after")).WaitAsync(Timeout);
        Assert.Contains(("after", 2), broker.Sink.Arrivals);
    }
}

/// <summary>
/// A Local broker whose reported-state sink withholds the PUBACK of the patch named "held" until released, to put a
/// publish in flight at a chosen moment. Every arrival is stamped with the number of CONNECTs the broker validated so far.
/// </summary>
internal sealed class HeldPubAckBroker : IAsyncDisposable
{
    private readonly LocalTelemetryChannel _telemetry = new();

    private HeldPubAckBroker()
    {
        Sink = new HoldingReportedStateSink(() => Policy.Calls);
        Broker = new LocalBroker(new LocalBrokerOptions(), Ca, Policy, _telemetry, Sink, new CommandReplyTable());
    }

    public LocalCertificateAuthority Ca { get; } = LocalCertificateAuthority.Create("Test CA");
    public InMemoryAccessPolicy Policy { get; } = new();
    public HoldingReportedStateSink Sink { get; }
    public LocalBroker Broker { get; }

    public static string Topic(string deviceId) => LocalTopics.ReportedState(deviceId);

    public static byte[] Patch(string name) => Encoding.UTF8.GetBytes($$"""{"n":"{{name}}"}""");

    public static async Task<HeldPubAckBroker> StartAsync()
    {
        var host = new HeldPubAckBroker();
        await host.Broker.StartAsync().WaitAsync(BrokerTestHost.Timeout);
        return host;
    }

    public X509Certificate2 AddDevice(string id)
    {
        var credential = Ca.IssueDeviceCertificate(id);
        Policy.Allow(id, credential.Id);
        return credential.ToCertificate();
    }

    public MqttDeviceClientOptions ClientOptions(string clientId, X509Certificate2 certificate) => new()
    {
        Host = "127.0.0.1", Port = Broker.Port, ClientId = clientId, ClientCertificate = certificate, TrustedRoots = [Ca.Certificate],
    };

    public async ValueTask DisposeAsync()
    {
        Sink.Release();
        await Broker.DisposeAsync();
        Ca.Dispose();
    }
}

internal sealed class HoldingReportedStateSink(Func<int> stamp) : IReportedStateSink
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ConcurrentQueue<(string Name, int Connects)> Arrivals { get; } = new();

    public TaskCompletionSource HeldArrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _release.TrySetResult();

    public async Task ApplyReportedAsync(string deviceId, JsonObject patch, CancellationToken cancellationToken)
    {
        var name = (string)patch["n"]!;
        Arrivals.Enqueue((name, stamp()));
        if (name != "held") return;
        HeldArrived.TrySetResult();
        await _release.Task.WaitAsync(BrokerTestHost.Timeout, cancellationToken);
    }
}

/// <summary>A TCP peer on 127.0.0.1 that accepts every connection and closes it at once, counting them.</summary>
internal sealed class HangingUpPeer : IDisposable
{
    private readonly System.Net.Sockets.TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private int _accepted;

    public HangingUpPeer()
    {
        _listener.Start();
        Port = ((System.Net.IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    using var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    Interlocked.Increment(ref _accepted);
                }
            }
            catch (Exception) when (_stop.IsCancellationRequested) { }
        });
    }

    public int Port { get; }

    public int Accepted => Volatile.Read(ref _accepted);

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
