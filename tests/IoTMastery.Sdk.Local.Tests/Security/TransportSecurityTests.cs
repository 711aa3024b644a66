using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.Local.Tests.Security;

/// <summary>The Local broker speaks only TLS 1.2+, and device clients validate its certificate unless told whom to trust.</summary>
public sealed class TransportSecurityTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private BrokerTestHost _host = null!;

    public async Task InitializeAsync() => _host = await BrokerTestHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Theory]
#pragma warning disable SYSLIB0039 // TLS 1.0/1.1 are obsolete: offering them is the point of the test.
    [InlineData(SslProtocols.Tls11)]
    [InlineData(SslProtocols.Tls)]
    [InlineData(SslProtocols.Tls | SslProtocols.Tls11)]
#pragma warning restore SYSLIB0039
    public async Task A_client_offering_only_tls_1_1_or_1_0_fails_the_handshake(SslProtocols offered)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", _host.Broker.Port).WaitAsync(Timeout);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);

        // Either the broker refuses the old version, or this machine's OpenSSL (security level 2 and up) will not
        // even offer it; both mean no TLS < 1.2 session. The raw-hello test below proves the broker side on its own.
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = offered,
        }).WaitAsync(Timeout));
        Assert.True(ex is AuthenticationException or IOException, ex.ToString());
        Assert.False(tls.IsAuthenticated);
    }

    [Fact]
    public async Task The_broker_answers_a_raw_tls_1_1_client_hello_with_an_alert_and_a_tls_1_2_one_with_a_server_hello()
    {
        // Hand-built ClientHello records, so the result does not depend on what the local OpenSSL is willing to send.
        var refused = await SendClientHelloAsync(0x0302);
        Assert.True(refused.Length == 0 || refused[0] == 0x15, $"expected a TLS alert or a closed connection for TLS 1.1, got record type 0x{refused[0]:x2}");
        if (refused.Length >= 7)
            Assert.Equal((byte)70, refused[6]);   // alert description protocol_version

        var accepted = await SendClientHelloAsync(0x0303);
        Assert.True(accepted.Length >= 6, "no answer to a TLS 1.2 ClientHello");
        Assert.Equal((0x16, 0x02), (accepted[0], accepted[5]));   // handshake record carrying a ServerHello
    }

    [Fact]
    public async Task A_device_client_with_no_trusted_roots_refuses_the_local_broker_by_default()
    {
        using var certificate = _host.AddDevice("dev-tls").ToCertificate();
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = _host.Broker.Port,
            ClientId = "dev-tls",
            ClientCertificate = certificate,
            // No TrustedRoots: the OS trust store decides, and it does not know the local CA.
        }, "Local");

        var ex = await Assert.ThrowsAsync<IoTException>(() => client.ConnectAsync().WaitAsync(Timeout));
        Assert.Equal("ServerCertificateUntrusted", ex.ErrorCode);
        Assert.False(ex.IsTransient);
        Assert.False(client.IsConnected);
        Assert.Equal(0, _host.Policy.Calls);   // refused during the handshake, before any CONNECT was sent
    }

    [Fact]
    public async Task A_device_connection_trusting_another_ca_refuses_the_broker_certificate()
    {
        var credential = _host.AddDevice("dev-other-ca");
        using var otherCa = LocalCertificateAuthority.Create("Someone else's CA");
        await using var connection = new LocalDeviceConnection(
            new DeviceConnectionOptions { DeviceId = "dev-other-ca", Credential = credential },
            new LocalDeviceEndpoint { Port = _host.Broker.Port, CaCertificate = otherCa.Certificate });

        var ex = await Assert.ThrowsAnyAsync<IoTException>(() => connection.ConnectAsync().WaitAsync(Timeout));
        Assert.Contains("certificate", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.False(ex.IsTransient);
        Assert.False(connection.IsConnected);
        Assert.Equal(0, _host.Policy.Calls);
    }

    private async Task<byte[]> SendClientHelloAsync(ushort version)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", _host.Broker.Port).WaitAsync(Timeout);
        var stream = tcp.GetStream();
        await stream.WriteAsync(ClientHello(version)).AsTask().WaitAsync(Timeout);
        var answer = new byte[4096];
        var total = 0;
        try
        {
            using var read = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            while (total < 7)
            {
                var n = await stream.ReadAsync(answer.AsMemory(total), read.Token);
                if (n == 0) break;
                total += n;
            }
        }
        catch (IOException)
        {
            // A reset is a refusal too.
        }
        return answer[..total];
    }

    // A minimal ClientHello: ECDHE-ECDSA suites (the broker's key is P-256), P-256 group, uncompressed points, SNI localhost;
    // TLS 1.2 also needs signature_algorithms, which TLS 1.1 does not have.
    private static byte[] ClientHello(ushort version)
    {
        var body = new List<byte> { (byte)(version >> 8), (byte)version };
        body.AddRange(RandomNumberGenerator.GetBytes(32));
        body.Add(0);                                                     // no session id
        byte[] suites = [0xC0, 0x2B, 0xC0, 0x2C, 0xC0, 0x09, 0xC0, 0x0A];   // ECDHE_ECDSA AES-GCM (1.2) and AES-CBC-SHA (1.0/1.1)
        body.AddRange([0, (byte)suites.Length, .. suites]);
        body.AddRange([1, 0]);                                           // null compression
        var extensions = new List<byte>();
        var host = "localhost"u8.ToArray();
        extensions.AddRange(Extension(0x0000, [0, (byte)(host.Length + 3), 0, 0, (byte)host.Length, .. host]));
        extensions.AddRange(Extension(0x000A, [0, 2, 0x00, 0x17]));     // supported_groups: secp256r1
        extensions.AddRange(Extension(0x000B, [1, 0]));                 // ec_point_formats: uncompressed
        if (version >= 0x0303)
            extensions.AddRange(Extension(0x000D, [0, 4, 0x04, 0x03, 0x08, 0x04]));   // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256
        body.AddRange([(byte)(extensions.Count >> 8), (byte)extensions.Count, .. extensions]);
        byte[] handshake = [1, 0, (byte)(body.Count >> 8), (byte)body.Count, .. body];
        return [0x16, 0x03, 0x01, (byte)(handshake.Length >> 8), (byte)handshake.Length, .. handshake];

        static byte[] Extension(ushort type, byte[] data) => [(byte)(type >> 8), (byte)type, (byte)(data.Length >> 8), (byte)data.Length, .. data];
    }
}
