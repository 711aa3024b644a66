using System.Diagnostics;

namespace IoTMastery.Sdk.Tests.Repository;

/// <summary>
/// scripts/test.sh on a machine that lacks a peer: it stops before running anything, with one line naming the missing
/// piece and the command that gets it, never a skip. The machine is simulated by a PATH of links to every program
/// except the hidden one, and IOTM_NO_INSTALL=1 so the script reports instead of installing.
/// </summary>
public sealed class TestScriptTests
{
    [Theory]
    [InlineData("moto_server", "moto's server 5.2.1", "pip install \"moto[server]==5.2.1\"")]
    [InlineData("node", "Node.js >= 20", "https://deb.nodesource.com/setup_20.x")]
    public async Task A_missing_peer_stops_the_script_with_one_line_naming_it_and_the_command(string hidden, string piece, string command)
    {
        var bin = Directory.CreateTempSubdirectory("iotm-path-");
        try
        {
            LinkEverythingBut(hidden, bin.FullName);
            var (code, stdout, stderr) = await RunAsync(bin.FullName, TimeSpan.FromMinutes(2));
            Assert.Equal(3, code);
            Assert.Equal("", stdout);
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("test.sh: missing " + piece, line, StringComparison.Ordinal);
            Assert.Contains(command, line, StringComparison.Ordinal);
        }
        finally
        {
            bin.Delete(recursive: true);
        }
    }

    // Links each program of the real PATH (first one wins, as in a lookup) except the hidden one.
    private static void LinkEverythingBut(string hidden, string bin)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Where(Directory.Exists))
            foreach (var program in Directory.EnumerateFiles(dir))
            {
                var link = Path.Combine(bin, Path.GetFileName(program));
                if (Path.GetFileName(program) != hidden && !File.Exists(link)) File.CreateSymbolicLink(link, program);
            }
        Assert.False(File.Exists(Path.Combine(bin, hidden)));
        Assert.True(File.Exists(Path.Combine(bin, "bash")), "bash is needed to run scripts/test.sh");
    }

    private static async Task<(int Code, string StdOut, string StdErr)> RunAsync(string path, TimeSpan timeout)
    {
        var script = Path.Combine(RepositoryRoot.Path, "scripts", "test.sh");
        var info = new ProcessStartInfo(Path.Combine(path, "bash"), [script, "--check-prerequisites"])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["PATH"] = path;
        info.Environment["IOTM_NO_INSTALL"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
