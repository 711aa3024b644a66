using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

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
