using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// Eclipse Mosquitto on a free loopback TLS port standing in for the bridge's MQTT broker: server-auth TLS,
/// MQTT 3.1.1 clients with a password (mosquitto cannot check JWTs, so the JWT itself is checked by the
/// tests). Killed by PID. A missing mosquitto is a failure, not a skip.
/// </summary>
public sealed class BridgeMosquitto : IAsyncDisposable
{
    private Process? _process;

    private BridgeMosquitto(string directory, int port)
    {
        Directory = directory;
        Port = port;
    }

    public LocalCertificateAuthority Ca { get; } = LocalCertificateAuthority.Create("bridge test CA");

    public string Directory { get; }

    public int Port { get; }

    public string LogPath => Path.Combine(Directory, "mosquitto.log");

    public X509Certificate2Collection TrustedRoots => [X509Certificate2.CreateFromPem(Ca.CertificatePem)];

    public string ReadLog()
    {
        try { return File.Exists(LogPath) ? File.ReadAllText(LogPath) : ""; }
        catch (IOException) { return ""; }
    }

    public static async Task<BridgeMosquitto> StartAsync()
    {
        var paths = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Append("/usr/sbin");
        var exe = paths.Select(p => Path.Combine(p, "mosquitto")).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("Eclipse Mosquitto was not found. Install it (apt-get install -y mosquitto); these tests must not be skipped.");
        var broker = new BridgeMosquitto(System.IO.Directory.CreateTempSubdirectory("iotm-bridge-").FullName, PubSubEmulator.FreePort());
        using (var server = broker.Ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]))
        using (var key = server.GetECDsaPrivateKey()!)
        {
            File.WriteAllText(Path.Combine(broker.Directory, "ca.pem"), broker.Ca.CertificatePem);
            File.WriteAllText(Path.Combine(broker.Directory, "server.pem"), server.ExportCertificatePem());
            File.WriteAllText(Path.Combine(broker.Directory, "server.key"), key.ExportPkcs8PrivateKeyPem());
        }
        var user = Environment.UserName == "root" ? "user root\n" : "";
        var config = Path.Combine(broker.Directory, "mosquitto.conf");
        File.WriteAllText(config, $"""
            {user}per_listener_settings true
            persistence false
            log_dest file {broker.LogPath}
            log_type all
            listener {broker.Port} 127.0.0.1
            certfile {Path.Combine(broker.Directory, "server.pem")}
            keyfile {Path.Combine(broker.Directory, "server.key")}
            tls_version tlsv1.2
            allow_anonymous true

            """);
        broker._process = Process.Start(new ProcessStartInfo(exe, ["-c", config]) { UseShellExecute = false }) ?? throw new InvalidOperationException("mosquitto did not start.");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (true)
        {
            if (broker._process.HasExited) throw new InvalidOperationException($"mosquitto exited: {broker.ReadLog()}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, broker.Port, deadline.Token);
                return broker;
            }
            catch (SocketException)
            {
                await Task.Delay(50, deadline.Token);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } p)
        {
            _process = null;
            if (!p.HasExited) p.Kill();
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            p.Dispose();
        }
        Ca.Dispose();
        try { System.IO.Directory.Delete(Directory, true); } catch (IOException) { /* temp cleaner */ }
    }
}
