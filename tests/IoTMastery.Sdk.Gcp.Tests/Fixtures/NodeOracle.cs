using System.Diagnostics;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// Runs scripts in a folder of tests/conformance with its pinned npm packages, installing them with <c>npm ci</c>
/// when they are missing. Missing node/npm fails with the install hint.
/// </summary>
public sealed class NodeOracle
{
    private readonly SemaphoreSlim _installGate = new(1, 1);
    private readonly string[] _markers;

    private NodeOracle(string folder, params string[] markers)
    {
        Directory = Path.Combine(RepoRoot(), "tests", "conformance", folder);
        _markers = markers;
    }

    /// <summary>The official Google clients (<c>@google-cloud/pubsub</c>, <c>@google-cloud/iot</c>) in tests/conformance/gcp-node.</summary>
    public static NodeOracle GoogleClients { get; } = new("gcp-node", "@google-cloud/iot");

    /// <summary>Google's Cloud IoT Core device sample (<c>mqtt</c> + <c>jsonwebtoken</c>) in tests/conformance/gcp-bridge-node.</summary>
    public static NodeOracle BridgeSample { get; } = new("gcp-bridge-node", "mqtt", "jsonwebtoken");

    /// <summary>ClearBlade's official client (<c>@clearblade/iot</c>) in tests/conformance/clearblade-node.</summary>
    public static NodeOracle ClearBladeClient { get; } = new("clearblade-node", "@clearblade/iot");

    public string Directory { get; }

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "IoTMastery.Sdk.sln"))) return dir.FullName;
        throw new InvalidOperationException("IoTMastery.Sdk.sln was not found above the test binaries.");
    }

    public async Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(string script, IEnumerable<string> args, TimeSpan timeout)
    {
        await EnsureInstalledAsync();
        return await RunProcessAsync("node", [script, .. args], timeout);
    }

    private async Task EnsureInstalledAsync()
    {
        await _installGate.WaitAsync();
        try
        {
            if (_markers.All(m => System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", m)))) return;
            var (code, _, err) = await RunProcessAsync("npm", ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(8));
            if (code != 0) throw new InvalidOperationException($"npm ci failed in {Directory} (exit {code}): {err}");
        }
        finally
        {
            _installGate.Release();
        }
    }

    private async Task<(int, string, string)> RunProcessAsync(string file, string[] args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file, args) { WorkingDirectory = Directory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        // Offline and non-interactive: Google's auth library must not probe the metadata server, gcloud must not prompt.
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
