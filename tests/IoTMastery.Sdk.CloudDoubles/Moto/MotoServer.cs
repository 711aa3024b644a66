using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using IoTMastery.Sdk.Aws;
using Xunit;

namespace IoTMastery.Sdk.CloudDoubles.Moto;

/// <summary>
/// moto's server (pinned 5.2.1; scripts/test.sh installs it) on a free loopback port, killed by PID on dispose.
/// A missing moto_server is a failure with an install hint, never a skip.
/// </summary>
public sealed class MotoServer : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private Process? _process;

    public int Port { get; private set; }

    public Uri Endpoint => new($"http://127.0.0.1:{Port}/");

    public static BasicAWSCredentials Credentials { get; } = new("testing", "testing");

    public string LogPath { get; } = Path.Combine(Path.GetTempPath(), $"iotm-moto-{Guid.NewGuid():N}.log");

    public async Task InitializeAsync()
    {
        var executable = Find("moto_server") ?? throw new InvalidOperationException(
            "moto_server was not found on PATH. Install it with: pip install \"moto[server]==5.2.1\" (scripts/test.sh does it); these tests must not be skipped.");
        Port = FreePort();
        var start = new ProcessStartInfo(executable, ["-H", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        start.Environment["AWS_ACCESS_KEY_ID"] = "testing";
        start.Environment["AWS_SECRET_ACCESS_KEY"] = "testing";
        _process = Process.Start(start) ?? throw new InvalidOperationException("moto_server did not start.");
        var log = File.CreateText(LogPath);
        _process.OutputDataReceived += (_, e) => { lock (log) log.WriteLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (log) log.WriteLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"moto_server exited with {_process.ExitCode}; see {LogPath}.");
            try
            {
                using var response = await http.GetAsync(new Uri(Endpoint, "moto-api/"));
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"moto_server did not answer on {Endpoint} within {StartTimeout.TotalSeconds} s.");
            await Task.Delay(100);
        }
    }

    /// <summary>Clears every backend so a test starts from an empty account.</summary>
    public async Task ResetAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.PostAsync(new Uri(Endpoint, "moto-api/reset"), null);
        response.EnsureSuccessStatusCode();
    }

    public AwsIoTOptions Options(Action<AwsIoTOptions>? configure = null)
    {
        var options = new AwsIoTOptions
        {
            Region = "us-east-1",
            ControlPlaneEndpoint = Endpoint,
            DataPlaneEndpoint = Endpoint,
            Credentials = Credentials,
            Transport = { MaxRetries = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(10), RetryMaxDelay = TimeSpan.FromMilliseconds(50) },
        };
        configure?.Invoke(options);
        return options;
    }

    public async Task DisposeAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited) process.Kill();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            process.Dispose();
        }
    }

    /// <summary>The first <paramref name="name"/> on PATH, or null.</summary>
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(p => Path.Combine(p, name)).FirstOrDefault(File.Exists);

    /// <summary>A port free on 127.0.0.1 right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
