using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// Eclipse Mosquitto with mutual TLS on a free loopback port and a test PKI from <see cref="LocalCertificateAuthority"/>,
/// configured like tests/IoTMastery.Sdk.Local.Tests/Mqtt/MosquittoBroker.cs. Killed by PID on dispose.
/// </summary>
internal sealed class MosquittoProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private readonly string _directory;
    private Process? _process;

    private MosquittoProcess(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public LocalCertificateAuthority Ca { get; } = LocalCertificateAuthority.Create("mosquitto benchmark CA");

    public int Port { get; }

    /// <summary>CPU time the broker process used so far.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process!.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public string LogPath => Path.Combine(_directory, "mosquitto.log");

    public static MosquittoProcess Start()
    {
        var executable = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin").Append("/usr/local/sbin").Select(p => Path.Combine(p, "mosquitto")).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("Eclipse Mosquitto was not found on PATH or in /usr/sbin; install it (apt-get install -y mosquitto).");
        var broker = new MosquittoProcess(Directory.CreateTempSubdirectory("iotm-bench-mosquitto-").FullName, FreeLoopbackPort());
        try
        {
            var config = broker.WriteConfiguration();
            broker._process = Process.Start(new ProcessStartInfo(executable, ["-c", config]) { UseShellExecute = false })
                ?? throw new InvalidOperationException("mosquitto did not start.");
            broker.WaitUntilListening();
            return broker;
        }
        catch
        {
            broker.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_process is { } process)
        {
            _process = null;
            if (!process.HasExited) process.Kill();
            process.WaitForExit(StartTimeout);
            process.Dispose();
        }
        Ca.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { /* leave it for the OS temp cleaner */ }
    }

    private string WriteConfiguration()
    {
        using var server = Ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
        using var serverKey = server.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The server certificate has no ECDSA key.");
        File.WriteAllText(Path.Combine(_directory, "ca.pem"), Ca.CertificatePem);
        File.WriteAllText(Path.Combine(_directory, "server.pem"), server.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_directory, "server.key"), serverKey.ExportPkcs8PrivateKeyPem());
        // Started as root, mosquitto would drop to user 'mosquitto' and could not read the key in our 0700 temp dir.
        var user = Environment.UserName == "root" ? "user root\n" : "";
        var config = Path.Combine(_directory, "mosquitto.conf");
        // Connection events only: 'log_type all' would write a line per PUBLISH/PUBACK and measure the disk.
        File.WriteAllText(config, $"""
            {user}per_listener_settings true
            persistence false
            log_dest file {LogPath}
            log_type error
            log_type warning
            log_type notice
            listener {Port} 127.0.0.1
            cafile {Path.Combine(_directory, "ca.pem")}
            certfile {Path.Combine(_directory, "server.pem")}
            keyfile {Path.Combine(_directory, "server.key")}
            tls_version tlsv1.2
            require_certificate true
            use_identity_as_username true
            allow_anonymous false

            """);
        return config;
    }

    // Readiness has no event to await: mosquitto is ready when its port accepts a TCP connection.
    private void WaitUntilListening()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process!.HasExited)
                throw new InvalidOperationException($"mosquitto exited with code {_process.ExitCode}; see {LogPath}.");
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < StartTimeout)
            {
                Thread.Sleep(50);
            }
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
