using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// `connect-smoke [devices] [concurrency]`: where a device's connection to the Local broker spends its time. Registers the
/// devices (certificates from the local CA, SQLite file), times the broker's CONNECT checks stage by stage on one thread
/// (certificate chain, common name, thumbprint, registry read) and the client's certificate context, then whole
/// connections: TCP, mutual TLS, MQTT 3.1.1 CONNECT and CONNACK, <c>concurrency</c> at a time, with wall and process CPU
/// time (both ends run in this process, so that CPU is client plus broker).
/// </summary>
public static class ConnectSmoke
{
    public static async Task RunAsync(int devices, int concurrency)
    {
        Console.WriteLine($"connect-smoke: {devices} devices, {concurrency} connects in flight, {Environment.ProcessorCount} cores, load {Load()}");
        var host = await FileProvider.StartAsync("connect-smoke").ConfigureAwait(false);
        await using (host.ConfigureAwait(false))
        {
            var provider = host.Provider;
            {
                var fleet = Enumerable.Range(0, devices)
                    .Select(i => new DeviceRegistration { Id = string.Create(CultureInfo.InvariantCulture, $"c-{i:D5}"), Credential = CredentialRequest.X509 })
                    .ToList();
                var registered = await provider.Registry.RegisterManyAsync(fleet).ConfigureAwait(false);
                var issued = registered.Select(i => i.Registration!.Credential!).ToArray();
                var policy = (IDeviceAccessPolicy)((IoTMastery.Sdk.Diagnostics.TracedDeviceRegistry)provider.Registry).Inner;
                var trust = provider.CertificateAuthority;
                // The same chain check the CA makes (custom root, client authentication, no revocation list).
                var peers = issued.Select(c => X509Certificate2.CreateFromPem(c.CertificatePem)).ToArray();
                var thumbprints = peers.Select(p => p.GetCertHashString(HashAlgorithmName.SHA256)).ToArray();
                var contexts = new SslStreamCertificateContext[devices];
                var stages = new (string Name, Func<int, ValueTask> Run)[]
                {
                    ("client: certificate + key from PEM and SslStreamCertificateContext (once per device)", i =>
                    {
                        contexts[i] = SslStreamCertificateContext.Create(X509Certificate2.CreateFromPem(issued[i].CertificatePem, issued[i].PrivateKeyPem), null, offline: true);
                        return ValueTask.CompletedTask;
                    }),
                    ("  of which: certificate + key from PEM", i =>
                    {
                        X509Certificate2.CreateFromPem(issued[i].CertificatePem, issued[i].PrivateKeyPem).Dispose();
                        return ValueTask.CompletedTask;
                    }),
                    ("  variant: context with the CA as the extra chain certificate", i =>
                    {
                        SslStreamCertificateContext.Create(X509Certificate2.CreateFromPem(issued[i].CertificatePem, issued[i].PrivateKeyPem), [trust], offline: true);
                        return ValueTask.CompletedTask;
                    }),
                    ("broker: peer certificate from DER", i =>
                    {
                        X509CertificateLoader.LoadCertificate(peers[i].RawData).Dispose();
                        return ValueTask.CompletedTask;
                    }),
                    ("broker: chain to the local CA (X509Chain)", i =>
                    {
                        using var chain = new X509Chain();
                        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                        chain.ChainPolicy.CustomTrustStore.Add(trust);
                        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2"));
                        if (!chain.Build(peers[i])) throw new InvalidOperationException("chain");
                        return ValueTask.CompletedTask;
                    }),
                    ("broker: common name", i =>
                    {
                        _ = LocalCertificateAuthority.GetCommonName(peers[i]);
                        return ValueTask.CompletedTask;
                    }),
                    ("broker: SHA-256 thumbprint", i =>
                    {
                        _ = peers[i].GetCertHashString(HashAlgorithmName.SHA256);
                        return ValueTask.CompletedTask;
                    }),
                    ("broker: registry CanConnectAsync", async i =>
                    {
                        if (!await policy.CanConnectAsync(fleet[i].Id, thumbprints[i], CancellationToken.None).ConfigureAwait(false))
                            throw new InvalidOperationException("policy");
                    }),
                };
                Console.WriteLine();
                Console.WriteLine("Per connection, stage by stage, one thread (µs, one pass over the fleet):");
                Console.WriteLine("| stage | wall µs | CPU µs |");
                Console.WriteLine("|---|---:|---:|");
                // CONNECT_ONLY=1 skips the stage timings (e.g. under a profiler) but still builds the client contexts.
                foreach (var (name, run) in Environment.GetEnvironmentVariable("CONNECT_ONLY") == "1" ? stages[..1] : stages)
                {
                    var (wall, cpu) = await TimeAsync(async () =>
                    {
                        for (var i = 0; i < devices; i++) await run(i).ConfigureAwait(false);
                    }).ConfigureAwait(false);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {wall / devices / 1000:N1} | {cpu / devices / 1000:N1} |"));
                }

                await HandshakeVariantsAsync(contexts, trust, Math.Min(devices, 300)).ConfigureAwait(false);

                var port = provider.Port;
                var connected = 0;
                var open = new System.Collections.Concurrent.ConcurrentBag<SslStream>();
                var (totalWall, totalCpu) = await TimeAsync(() => Parallel.ForEachAsync(Enumerable.Range(0, devices),
                    new ParallelOptions { MaxDegreeOfParallelism = concurrency },
                    async (i, ct) =>
                    {
                        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
                        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                        await socket.ConnectAsync("127.0.0.1", port, bound.Token).ConfigureAwait(false);
                        // Kept open until every device connected, as in `iotm simulate`: disconnects are not part of the figure.
                        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), false);
                        open.Add(ssl);
                        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                        {
                            TargetHost = "localhost",
                            ClientCertificateContext = contexts[i],
                            CertificateChainPolicy = new X509ChainPolicy
                            {
                                TrustMode = X509ChainTrustMode.CustomRootTrust,
                                CustomTrustStore = { trust },
                                RevocationMode = X509RevocationMode.NoCheck,
                            },
                        }, bound.Token).ConfigureAwait(false);
                        await ssl.WriteAsync(Connect(fleet[i].Id), bound.Token).ConfigureAwait(false);
                        var connack = new byte[4];
                        await ssl.ReadExactlyAsync(connack, bound.Token).ConfigureAwait(false);
                        if (connack[0] != 0x20 || connack[3] != 0) throw new InvalidOperationException($"CONNACK {connack[3]}");
                        Interlocked.Increment(ref connected);
                    })).ConfigureAwait(false);
                foreach (var ssl in open) await ssl.DisposeAsync().ConfigureAwait(false);
                Console.WriteLine();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Whole connections (TCP + mutual TLS + CONNECT/CONNACK, all kept open until the last CONNACK): {connected} of {devices}, {totalWall / 1e9:N2} s, " +
                    $"{devices / (totalWall / 1e9):N0} connects/s, CPU {totalCpu / devices / 1000:N0} µs per connect (client + broker)"));
            }
        }
        Console.WriteLine($"load at the end: {Load()}");
    }

    // Mutual TLS alone, both ends in this process over loopback, one handshake at a time: which options cost what.
    private static async Task HandshakeVariantsAsync(SslStreamCertificateContext[] clients, X509Certificate2 trust, int count)
    {
        // The provider's CA key is not reachable from here, so the server certificate comes from a second CA the clients trust.
        using var serverCa = LocalCertificateAuthority.Create("connect-smoke server CA");
        using var serverCert = serverCa.IssueServerCertificate(["localhost"], [System.Net.IPAddress.Loopback]);
        var serverContext = SslStreamCertificateContext.Create(serverCert, null, offline: true);
        static X509ChainPolicy Custom(X509Certificate2 root) => new()
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            CustomTrustStore = { root },
            RevocationMode = X509RevocationMode.NoCheck,
        };
        var variants = new (string Name, bool ServerContext, bool CustomChains)[]
        {
            ("server certificate given bare, default (system) trust for chains", false, false),
            ("server certificate context reused, default (system) trust for chains", true, false),
            ("server certificate context reused, chains built against the local CA only", true, true),
        };
        Console.WriteLine();
        Console.WriteLine($"Mutual TLS handshakes alone, {count} one after the other (client + server CPU per handshake):");
        Console.WriteLine("| variant | wall µs | CPU µs |");
        Console.WriteLine("|---|---:|---:|");
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(64);
        var port = ((System.Net.IPEndPoint)listener.LocalEndPoint!).Port;
        // Round 0 warms up (JIT, OpenSSL's first loads) with a few handshakes per variant; round 1 is timed.
        for (var round = 0; round < 2; round++)
        foreach (var (name, useContext, custom) in variants)
        {
            var n = round == 0 ? Math.Min(count, 20) : count;
            var (wall, cpu) = await TimeAsync(async () =>
            {
                for (var i = 0; i < n; i++)
                {
                    using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                    using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    var accept = listener.AcceptAsync(bound.Token);
                    await client.ConnectAsync("127.0.0.1", port, bound.Token).ConfigureAwait(false);
                    using var accepted = await accept.ConfigureAwait(false);
                    await using var serverSsl = new SslStream(new NetworkStream(accepted), false, (_, c, _, _) => c is not null);
                    await using var clientSsl = new SslStream(new NetworkStream(client), false, (_, _, _, e) => custom ? e == SslPolicyErrors.None : true);
                    var serverOptions = new SslServerAuthenticationOptions
                    {
                        ClientCertificateRequired = true,
                        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                        CertificateChainPolicy = custom ? Custom(trust) : null,
                    };
                    if (useContext) serverOptions.ServerCertificateContext = serverContext;
                    else serverOptions.ServerCertificate = serverCert;
                    await Task.WhenAll(
                        serverSsl.AuthenticateAsServerAsync(serverOptions, bound.Token),
                        clientSsl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                        {
                            TargetHost = "localhost",
                            ClientCertificateContext = clients[i],
                            CertificateChainPolicy = custom ? Custom(serverCa.Certificate) : null,
                        }, bound.Token)).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
            if (round == 1)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {wall / n / 1000:N0} | {cpu / n / 1000:N0} |"));
        }
    }

    // MQTT 3.1.1 CONNECT, clean session, keep-alive 60 s, no credentials: what `iotm simulate` sends.
    private static byte[] Connect(string clientId)
    {
        var id = Encoding.UTF8.GetBytes(clientId);
        var packet = new List<byte> { 0x10, (byte)(12 + id.Length), 0, 4 };
        packet.AddRange("MQTT"u8.ToArray());
        packet.AddRange([4, 0x02, 0, 60, (byte)(id.Length >> 8), (byte)id.Length]);
        packet.AddRange(id);
        return [.. packet];
    }

    private static Task<(double WallNs, double CpuNs)> TimeAsync(Func<Task> run) => SmokeClock.TimeAsync(run);

    private static string Load() => SmokeClock.Load();
}
