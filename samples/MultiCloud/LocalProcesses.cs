using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using IoTMastery.Sdk;

namespace MultiCloud;

/// <summary>A helper process on loopback (moto_server, mosquitto or the Pub/Sub emulator) that this sample started and stops by PID.</summary>
internal sealed class LocalProcess : IAsyncDisposable
{
    private readonly Process _process;

    private LocalProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public static Task<LocalProcess> StartAsync(string executable, Func<int, string[]> arguments, string installHint, CancellationToken ct) =>
        StartPathAsync(Find(executable) ?? throw new InvalidOperationException($"{executable} was not found on PATH. {installHint}"), arguments, TimeSpan.FromSeconds(30), ct);

    /// <summary>Starts an executable given by path; ready once its port accepts connections within <paramref name="readyTimeout"/>.</summary>
    public static async Task<LocalProcess> StartPathAsync(string path, Func<int, string[]> arguments, TimeSpan readyTimeout, CancellationToken ct)
    {
        var executable = Path.GetFileName(path);
        var port = FreePort();
        var start = new ProcessStartInfo(path, arguments(port)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{executable} did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = new LocalProcess(process, port);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(readyTimeout);
        // Ready = the port accepts connections.
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"{executable} exited with code {process.ExitCode}.");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port, deadline.Token);
                return started;
            }
            catch (SocketException)
            {
                await Task.Delay(100, deadline.Token);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }

    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin").Select(p => Path.Combine(p, name)).FirstOrDefault(File.Exists);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>mosquitto on a free loopback TLS port with a server certificate from a local CA; disposing stops it and deletes its folder.</summary>
internal sealed class LocalMosquitto : IAsyncDisposable
{
    private readonly DirectoryInfo _dir;
    private readonly LocalProcess _process;

    private LocalMosquitto(DirectoryInfo dir, LocalProcess process)
    {
        _dir = dir;
        _process = process;
    }

    public int Port => _process.Port;

    /// <summary>With <paramref name="requireClientCertificates"/>, clients authenticate by certificates <paramref name="ca"/> issued (mutual TLS); otherwise anyone may connect over server-auth TLS.</summary>
    public static async Task<LocalMosquitto> StartAsync(LocalCertificateAuthority ca, bool requireClientCertificates, CancellationToken ct)
    {
        var dir = Directory.CreateTempSubdirectory("multicloud-mosquitto-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "ca.pem"), ca.CertificatePem);
            using (var server = ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]))
            {
                File.WriteAllText(Path.Combine(dir.FullName, "server.pem"), server.ExportCertificatePem());
                using var key = server.GetECDsaPrivateKey()!;
                File.WriteAllText(Path.Combine(dir.FullName, "server.key"), key.ExportPkcs8PrivateKeyPem());
            }
            var clients = requireClientCertificates
                ? $"cafile {dir.FullName}/ca.pem\nrequire_certificate true\nuse_identity_as_username true\nallow_anonymous false"
                : "allow_anonymous true";
            var process = await LocalProcess.StartAsync("mosquitto", port =>
            {
                var config = Path.Combine(dir.FullName, "mosquitto.conf");
                File.WriteAllText(config, $"""
                    {(Environment.UserName == "root" ? "user root" : "")}
                    per_listener_settings true
                    persistence false
                    log_dest none
                    listener {port} 127.0.0.1
                    certfile {dir.FullName}/server.pem
                    keyfile {dir.FullName}/server.key
                    {clients}

                    """);
                return ["-c", config];
            }, "Install it with: apt-get install -y mosquitto.", ct);
            return new LocalMosquitto(dir, process);
        }
        catch
        {
            Delete(dir);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        Delete(_dir);
    }

    private static void Delete(DirectoryInfo dir)
    {
        try { dir.Delete(true); } catch (IOException) { /* temp cleaner */ }
    }
}
