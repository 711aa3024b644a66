using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace IoTMastery.Sdk.CloudDoubles.PubSub;

/// <summary>
/// Google's Pub/Sub emulator started on a free loopback port through the direct launcher
/// (<c>platform/pubsub-emulator/bin/cloud-pubsub-emulator</c>, which execs java, so its PID is the server's) and killed by PID. A missing emulator fails the tests with the install hint.
/// </summary>
public sealed class PubSubEmulator : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private Process? _process;
    private readonly StringBuilder _log = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Port { get; private set; }

    public Uri BaseUrl => new($"http://127.0.0.1:{Port}/");

    public string ProjectId => "test-project";

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Topic and subscription set-up and bridge publishing against this emulator.</summary>
    public PubSubRest Rest => new(Http, BaseUrl, ProjectId);

    public async Task InitializeAsync()
    {
        var launcher = await FindLauncherAsync();
        Port = FreePort();
        var configDir = Directory.CreateTempSubdirectory("iotm-gcloud-").FullName;
        var start = new ProcessStartInfo(launcher, [$"--host=127.0.0.1", $"--port={Port}"])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["CLOUDSDK_CORE_DISABLE_PROMPTS"] = "1";
        start.Environment["CLOUDSDK_CONFIG"] = configDir;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        if (!process.Start()) throw new InvalidOperationException("The Pub/Sub emulator did not start.");
        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(_ready.Task, exited, Task.Delay(StartTimeout));
        if (first != _ready.Task)
        {
            string log;
            lock (_log) log = _log.ToString();
            await DisposeAsync();
            throw new InvalidOperationException($"The Pub/Sub emulator did not report 'Server started, listening on {Port}' within {StartTimeout.TotalSeconds} s. Log:\n{log}");
        }
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
        if (line.Contains($"Server started, listening on {Port}", StringComparison.Ordinal)) _ready.TrySetResult();
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (_process is not { } process) return;
        _process = null;
        try
        {
            if (!process.HasExited) process.Kill();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        }
        finally
        {
            process.Dispose();
        }
    }

    private static async Task<string> FindLauncherAsync()
    {
        const string hint = "Install google-cloud-cli-pubsub-emulator and a Java 17 runtime (openjdk-17-jre-headless); these tests must not be skipped.";
        string? root = null;
        try
        {
            var info = new ProcessStartInfo("gcloud", ["info", "--format=value(installation.sdk_root)"]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            info.Environment["CLOUDSDK_CORE_DISABLE_PROMPTS"] = "1";
            using var gcloud = Process.Start(info)!;
            var output = gcloud.StandardOutput.ReadToEndAsync();
            await gcloud.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            root = (await output).Trim();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or TimeoutException)
        {
            throw new InvalidOperationException("gcloud was not found or did not answer. " + hint, ex);
        }
        var launcher = Path.Combine(root, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator");
        return File.Exists(launcher) ? launcher : throw new InvalidOperationException($"The Pub/Sub emulator launcher is missing at {launcher}. " + hint);
    }

    /// <summary>A port free on 127.0.0.1 right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
