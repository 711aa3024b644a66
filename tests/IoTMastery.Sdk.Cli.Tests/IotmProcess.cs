using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>The result of one run of the tool.</summary>
public sealed record IotmRun(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The run's JSON output, after asserting it succeeded (the failure message carries the whole run).</summary>
    public JsonNode Json()
    {
        Assert.True(ExitCode == 0, ToString());
        return JsonNode.Parse(Stdout)!;
    }

    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>Runs the built tool as a separate process (<c>dotnet IoTMastery.Sdk.Cli.dll …</c>), bounded, and kills it on timeout.</summary>
public static class IotmProcess
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    public static string Metadata(string key) =>
        typeof(IotmProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    public static string DllPath => Metadata("CliDllPath");

    public static Task<IotmRun> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null, string? workingDirectory = null) =>
        RunFileAsync("dotnet", [DllPath, .. args], environment, workingDirectory);

    public static async Task<IotmRun> RunFileAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null,
        string? workingDirectory = null, TimeSpan? bound = null)
    {
        var start = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        // The tool must not pick up the test runner's own IOTM_ settings.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("IOTM_", StringComparison.Ordinal)).ToArray()) start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string?>()) start.Environment[k] = v;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(bound ?? Bound);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not end within {(bound ?? Bound).TotalSeconds} s.\nstdout: {await stdout}\nstderr: {await stderr}");
        }
        return new IotmRun(process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>Unix permission checks on the files the tool writes (the tool's Unix guarantee; Windows uses folder ACLs).</summary>
public static class Modes
{
    public const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode OwnerFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static UnixFileMode Of(string path) =>
        OperatingSystem.IsWindows() ? throw new PlatformNotSupportedException("Unix file modes only.") : File.GetUnixFileMode(path);
}
