using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk.TestSupport;

/// <summary>
/// An Eclipse Mosquitto instance with mutual TLS on a free loopback port (a generated mosquitto.conf: one listener on 127.0.0.1, TLS 1.2, client certificates unless the options say otherwise),
/// with a PKI from <see cref="LocalCertificateAuthority"/>. Killed by PID on dispose. Missing mosquitto is a failure, not a skip.
/// The one launcher of the tests and benchmarks; <see cref="MosquittoBrokerOptions"/> holds what callers vary.
/// </summary>
public sealed class MosquittoBroker : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private readonly string _executable;
    private readonly string _config;
    private readonly MosquittoBrokerOptions _options;
    private Process? _process;
    // Kill, stop and (re)start run one at a time: a test may kill the broker from a client callback while a restart is
    // still probing the port, and must then kill the broker that restart started, not dispose it under the probe.
    private readonly SemaphoreSlim _lifecycle = new(1, 1);

    private MosquittoBroker(string executable, string directory, int port, MosquittoBrokerOptions options)
    {
        _executable = executable;
        Directory = directory;
        Port = port;
        _options = options;
        _config = Path.Combine(directory, "mosquitto.conf");
    }

    /// <summary>The test PKI: it issued the broker's certificate and issues clients' certificates.</summary>
    public LocalCertificateAuthority Ca { get; } = LocalCertificateAuthority.Create("mosquitto test CA");

    /// <summary>The temp directory holding the configuration, keys and log; deleted on dispose.</summary>
    public string Directory { get; }

    /// <summary>The loopback port of the TLS listener.</summary>
    public int Port { get; }

    /// <summary>The broker's log file.</summary>
    public string LogPath => Path.Combine(Directory, "mosquitto.log");

    /// <summary>The persistence database (<c>mosquitto.db</c> in <see cref="Directory"/>), written only with <see cref="MosquittoBrokerOptions.Persistence"/>.</summary>
    public string PersistencePath => Path.Combine(Directory, "mosquitto.db");

    /// <summary>The process id of the running broker, or <see langword="null"/> while it is killed.</summary>
    public int? ProcessId => _process?.Id;

    /// <summary>The CA certificate alone (no key), for a client's trusted roots.</summary>
    public X509Certificate2Collection TrustedRoots => [X509Certificate2.CreateFromPem(Ca.CertificatePem)];

    /// <summary>CPU time the running broker process has used so far; for benchmarks that count the broker's share.</summary>
    public TimeSpan ProcessorTime
    {
        get
        {
            var process = _process ?? throw new InvalidOperationException("mosquitto is not running.");
            process.Refresh();
            return process.TotalProcessorTime;
        }
    }

    /// <summary>Starts mosquitto on a free port and waits (bounded) until it listens; fails clearly if it is not installed.</summary>
    public static Task<MosquittoBroker> StartAsync() => StartAsync(new MosquittoBrokerOptions());

    /// <summary>Starts mosquitto with extra settings (persistence, queue limits) on a free port; see <see cref="StartAsync()"/>.</summary>
    public static async Task<MosquittoBroker> StartAsync(MosquittoBrokerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var executable = FindMosquitto() ?? throw new InvalidOperationException(
            "Eclipse Mosquitto was not found on PATH or in /usr/sbin. Install it (apt-get install -y mosquitto); these tests must not be skipped.");
        var directory = System.IO.Directory.CreateTempSubdirectory("iotm-mosquitto-").FullName;
        var broker = new MosquittoBroker(executable, directory, FreeLoopbackPort(), options);
        try
        {
            broker.WriteConfiguration();
            await broker.StartProcessAsync();
            return broker;
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the broker by PID (no clean shutdown: clients see a dropped connection).</summary>
    public async Task KillAsync()
    {
        await _lifecycle.WaitAsync().WaitAsync(StartTimeout * 2);
        try
        {
            if (_process is not { } process) return;
            _process = null;
            if (!process.HasExited) process.Kill();
            await process.WaitForExitAsync().WaitAsync(StartTimeout);
            process.Dispose();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>
    /// Stops the broker cleanly (SIGTERM) and waits (bounded) for it to exit; with persistence on, mosquitto saves its
    /// database on the way out, so <see cref="PersistencePath"/> then holds everything the broker still held.
    /// </summary>
    public async Task StopAsync()
    {
        await _lifecycle.WaitAsync().WaitAsync(StartTimeout * 2);
        try
        {
            await StopProcessAsync();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private async Task StopProcessAsync()
    {
        if (_process is not { } process) return;
        _process = null;
        try
        {
            if (!process.HasExited)
            {
                using var signal = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })
                    ?? throw new InvalidOperationException("kill did not start.");
                await signal.WaitForExitAsync().WaitAsync(StartTimeout);
            }
            await process.WaitForExitAsync().WaitAsync(StartTimeout);
        }
        finally
        {
            // A broker that did not stop in time is not left running.
            if (!process.HasExited) process.Kill();
            process.Dispose();
        }
    }

    /// <summary>Starts the broker again on the same port and configuration after <see cref="KillAsync"/>.</summary>
    public Task RestartAsync() => StartProcessAsync();

    /// <summary>The broker's log so far, or an empty string when there is none yet.</summary>
    public string ReadLog()
    {
        try { return File.Exists(LogPath) ? File.ReadAllText(LogPath) : ""; }
        catch (IOException) { return ""; }
    }

    /// <summary>Kills the broker and deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        finally
        {
            Ca.Dispose();
            _lifecycle.Dispose();
            try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { /* leave it for the OS temp cleaner */ }
        }
    }

    private void WriteConfiguration()
    {
        using var server = Ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
        using var serverKey = server.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The server certificate has no ECDSA key.");
        File.WriteAllText(Path.Combine(Directory, "ca.pem"), Ca.CertificatePem);
        File.WriteAllText(Path.Combine(Directory, "server.pem"), server.ExportCertificatePem());
        File.WriteAllText(Path.Combine(Directory, "server.key"), serverKey.ExportPkcs8PrivateKeyPem());
        // Started as root, mosquitto would drop to user 'mosquitto' and could not read the 0600 key in our 0700 temp dir.
        var user = Environment.UserName == "root" ? "user root\n" : "";
        // Persistence lives in the broker's own temp directory, so a restart on the same port reloads it and dispose deletes it.
        var persistence = _options.Persistence
            ? $"persistence true\npersistence_location {Directory}/\npersistence_file mosquitto.db\n"
            : "persistence false\n";
        var extra = string.Concat(_options.ExtraConfiguration.Select(line => line + "\n"));
        var logTypes = string.Concat(_options.LogTypes.Select(type => $"log_type {type}\n"));
        var clientAuthentication = _options.ClientAuthentication switch
        {
            MosquittoClientAuthentication.Certificate => $"""
                cafile {Path.Combine(Directory, "ca.pem")}
                require_certificate true
                use_identity_as_username true
                allow_anonymous false
                """,
            // Server-auth TLS only: mosquitto cannot check a JWT password, so the tests check it themselves.
            MosquittoClientAuthentication.None => "allow_anonymous true",
            _ => throw new ArgumentOutOfRangeException(nameof(_options), _options.ClientAuthentication, "Unknown client authentication."),
        };
        File.WriteAllText(_config, $"""
            {user}per_listener_settings true
            {persistence}{extra}log_dest file {LogPath}
            {logTypes}listener {Port} 127.0.0.1
            certfile {Path.Combine(Directory, "server.pem")}
            keyfile {Path.Combine(Directory, "server.key")}
            tls_version tlsv1.2
            {clientAuthentication}

            """);
    }

    private async Task StartProcessAsync()
    {
        await _lifecycle.WaitAsync().WaitAsync(StartTimeout * 2);
        try
        {
            await StartProcessLockedAsync();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private async Task StartProcessLockedAsync()
    {
        // Its console output (e.g. the warning about running as root, which CI does) stays out of the test log; the log file has the rest.
        var process = Process.Start(new ProcessStartInfo(_executable, ["-c", _config]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true })
            ?? throw new InvalidOperationException("mosquitto did not start.");
        var console = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is { } line) console.Enqueue(line); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) console.Enqueue(line); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        using var deadline = new CancellationTokenSource(StartTimeout);
        // Readiness has no event to await: mosquitto is ready when its port accepts a TCP connection.
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"mosquitto exited with code {process.ExitCode}: {string.Join(" | ", console)}; see {LogPath}: {ReadLog()}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port, deadline.Token);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"mosquitto did not listen on 127.0.0.1:{Port} within {StartTimeout.TotalSeconds} s.");
            }
        }
    }

    private static string? FindMosquitto()
    {
        var paths = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Append("/usr/sbin").Append("/usr/local/sbin");
        return paths.Select(p => Path.Combine(p, "mosquitto")).FirstOrDefault(File.Exists);
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>Optional settings of a <see cref="MosquittoBroker"/>; the defaults give the plain in-memory broker (no persistence) with mutual TLS.</summary>
public sealed record MosquittoBrokerOptions
{
    /// <summary>Whether mosquitto keeps its database (sessions, subscriptions, queued messages) in <see cref="MosquittoBroker.PersistencePath"/> across restarts. Default false.</summary>
    public bool Persistence { get; init; }

    /// <summary>Global mosquitto.conf lines written before the listener, for example <c>autosave_interval 1</c>.</summary>
    public IReadOnlyList<string> ExtraConfiguration { get; init; } = [];

    /// <summary>The <c>log_type</c> values written to <see cref="MosquittoBroker.LogPath"/>. Default <c>all</c>; benchmarks drop per-packet lines so they do not measure the disk.</summary>
    public IReadOnlyList<string> LogTypes { get; init; } = ["all"];

    /// <summary>How the listener authenticates clients. Default <see cref="MosquittoClientAuthentication.Certificate"/> (mutual TLS).</summary>
    public MosquittoClientAuthentication ClientAuthentication { get; init; } = MosquittoClientAuthentication.Certificate;
}

/// <summary>How a <see cref="MosquittoBroker"/> listener authenticates its clients; the server always presents a TLS certificate from <see cref="MosquittoBroker.Ca"/>.</summary>
public enum MosquittoClientAuthentication
{
    /// <summary>Mutual TLS: a client certificate from <see cref="MosquittoBroker.Ca"/> is required and its CN is the user name.</summary>
    Certificate,

    /// <summary>No client authentication: any client (MQTT user name and password ignored) is accepted over server-auth TLS.</summary>
    None,
}
