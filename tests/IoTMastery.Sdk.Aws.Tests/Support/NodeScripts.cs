using System.Diagnostics;

namespace IoTMastery.Sdk.Aws.Tests;

/// <summary>Runs the Node.js conformance scripts of tests/conformance/aws-node (official AWS SDKs pinned in package-lock.json).</summary>
internal static class NodeScripts
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    public static string Directory { get; } = Path.Combine(VendoredSpecs.RepoRoot, "tests", "conformance", "aws-node");

    /// <summary>Runs <c>npm ci</c> when a package the lock pins is missing, then the script; returns its stdout.</summary>
    public static async Task<string> RunAsync(string script, IEnumerable<string> args, TimeSpan timeout)
    {
        var node = MotoServer.Find("node") ?? throw new InvalidOperationException("Node.js 20 is required for the AWS conformance tests (apt-get install -y nodejs).");
        await InstallLock.WaitAsync();
        try
        {
            string[] pinned = [Path.Combine("@aws-sdk", "client-iot"), Path.Combine("@aws-sdk", "client-iot-data-plane"), "aws-iot-device-sdk"];
            if (pinned.Any(p => !System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", p))))
                await RunProcessAsync(MotoServer.Find("npm") ?? throw new InvalidOperationException("npm is required (apt-get install -y npm)."), ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(5));
        }
        finally
        {
            InstallLock.Release();
        }
        return await RunProcessAsync(node, [script, .. args], timeout);
    }

    private static async Task<string> RunProcessAsync(string exe, string[] args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(exe, args) { WorkingDirectory = Directory, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{exe} {args[0]} did not finish within {timeout}: {await stderr}{await stdout}");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"{exe} {args[0]} failed ({process.ExitCode}): {await stderr}{await stdout}");
        return await stdout;
    }
}
