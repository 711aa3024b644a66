using System.Diagnostics;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// Runs scripts in tests/conformance/gcp-node with the pinned official Google clients, installing them with
/// <c>npm ci</c> when node_modules is missing. Missing node/npm fails with the install hint.
/// </summary>
public static class NodeOracle
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    public static string Directory { get; } = Path.Combine(RepoRoot(), "tests", "conformance", "gcp-node");

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "IoTMastery.Sdk.sln"))) return dir.FullName;
        throw new InvalidOperationException("IoTMastery.Sdk.sln was not found above the test binaries.");
    }

    public static async Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(string script, IEnumerable<string> args, TimeSpan timeout)
    {
        await EnsureInstalledAsync();
        return await RunProcessAsync("node", [script, .. args], timeout);
    }

    private static async Task EnsureInstalledAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", "@google-cloud", "iot"))) return;
            var (code, _, err) = await RunProcessAsync("npm", ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(8));
            if (code != 0) throw new InvalidOperationException($"npm ci failed in {Directory} (exit {code}): {err}");
        }
        finally
        {
            InstallGate.Release();
        }
    }

    private static async Task<(int, string, string)> RunProcessAsync(string file, string[] args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file, args) { WorkingDirectory = Directory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        // test-oracles.md §0: no metadata-server probing, no prompts.
        info.Environment["METADATA_SERVER_DETECTION"] = "none";
        info.Environment["GOOGLE_APPLICATION_CREDENTIALS"] = "/nonexistent/iotm-test-credentials.json";
        info.Environment["CLOUDSDK_CORE_DISABLE_PROMPTS"] = "1";
        info.Environment.Remove("PUBSUB_EMULATOR_HOST");
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"'{file}' was not found. Install Node.js 20 with npm; these tests must not be skipped.", ex);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                await process.WaitForExitAsync().WaitAsync(timeout);
            }
            catch (TimeoutException)
            {
                process.Kill();
                throw new TimeoutException($"{file} {string.Join(' ', args.Take(1))} did not finish within {timeout.TotalSeconds} s. stderr: {await stderr}");
            }
            return (process.ExitCode, await stdout, await stderr);
        }
    }
}
