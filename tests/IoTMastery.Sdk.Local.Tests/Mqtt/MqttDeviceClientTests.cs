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
    public async Task Expiring_credentials_are_renewed_by_reconnecting_before_they_expire()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-1").ToCertificate();
        var issued = 0;
        var secondConnect = TestWaits.NewSignal<bool>();
        var connects = 0;
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1",
            Port = host.Broker.Port,
            ClientId = "dev-1",
            ClientCertificate = cert,
            TrustedRoots = [host.Ca.Certificate],
            CredentialRenewalMargin = TimeSpan.FromSeconds(60),
            CredentialProvider = _ =>
            {
                var n = Interlocked.Increment(ref issued);
                return ValueTask.FromResult(new MqttCredentials("dev-1", $"token-{n}", clock.GetUtcNow().AddMinutes(5)));
            },
        }, "Test", clock);
        client.Connected += (_, _) =>
        {
            if (Interlocked.Increment(ref connects) == 2) secondConnect.TrySetResult(true);
        };
        await client.ConnectAsync().WaitAsync(Timeout);

        clock.Advance(TimeSpan.FromMinutes(4) + TimeSpan.FromSeconds(1));

        await secondConnect.Task.WaitAsync(Timeout);
        Assert.Equal(2, Volatile.Read(ref issued));
        Assert.True(client.IsConnected);
        Assert.Contains("redacted", new MqttCredentials("u", "secret-token").ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("secret-token", new MqttCredentials("u", "secret-token").ToString(), StringComparison.Ordinal);
    }
    [Fact]
    public async Task A_credential_shorter_than_the_renewal_margin_is_renewed_at_half_its_life_not_in_a_loop()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await BrokerTestHost.StartAsync();
        using var cert = host.AddDevice("dev-1").ToCertificate();
        var issued = 0;
        var secondConnect = TestWaits.NewSignal<bool>();
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1",
            Port = host.Broker.Port,
            ClientId = "dev-1",
            ClientCertificate = cert,
            TrustedRoots = [host.Ca.Certificate],
            CredentialRenewalMargin = TimeSpan.FromSeconds(60),
            // 30 s of life with a 60 s margin: without the guard the client renewed immediately after every connect.
            CredentialProvider = _ =>
            {
                Interlocked.Increment(ref issued);
                return ValueTask.FromResult(new MqttCredentials("dev-1", "token", clock.GetUtcNow().AddSeconds(30)));
            },
        }, "Test", clock);
        client.Connected += (_, _) => { if (Volatile.Read(ref issued) == 2) secondConnect.TrySetResult(true); };
        await client.ConnectAsync().WaitAsync(Timeout);

        // Real time passes (the broker runs on it) but the client's clock does not: no renewal may happen.
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.Equal(1, Volatile.Read(ref issued));

        clock.Advance(TimeSpan.FromSeconds(14));
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, Volatile.Read(ref issued));

        clock.Advance(TimeSpan.FromSeconds(1)); // half of the 30 s life
        await secondConnect.Task.WaitAsync(Timeout);
        Assert.Equal(2, Volatile.Read(ref issued));
    }
}
