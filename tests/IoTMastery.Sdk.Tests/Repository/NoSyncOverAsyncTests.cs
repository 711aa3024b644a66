using System.Text.RegularExpressions;

namespace IoTMastery.Sdk.Tests.Repository;

/// <summary>
/// No library code blocks a thread on a task (sync-over-async): a DI factory or constructor that waits on start-up
/// can deadlock under a synchronization context and starves the thread pool on a small machine. Providers start in
/// an <c>IHostedService</c> instead.
/// </summary>
public sealed partial class NoSyncOverAsyncTests
{
    // `.GetAwaiter().GetResult()`, `.Result` and `.Wait(...)`/`WaitAll`/`WaitAny` on a task.
    [GeneratedRegex(@"\.GetAwaiter\(\)\s*\.GetResult\(\)|\.Result\b(?!\s*\()|\.Wait(?:All|Any)?\s*\(")]
    private static partial Regex Blocking();

    /// <summary>
    /// Matches that are not tasks: a regular expression cannot see types, so each name here is checked by hand and
    /// carries its reason.
    /// </summary>
    private static readonly (string File, string Text, string Reason)[] NotTasks =
    [
        ("src/IoTMastery.Sdk.Azure/Provisioning/DpsProvisioningClient.cs", "step.Result", "the DPS operation's JSON `result` property, not Task.Result"),
        ("src/IoTMastery.Sdk/Telemetry/TelemetryPipeline.GroupCommit.cs", "Monitor.Wait(", "a monitor wait on the staging lock (disposal waits for the one append under way), not a task"),
    ];

    [Fact]
    public void No_library_code_blocks_on_a_task()
    {
        var hits = new List<string>();
        var scanned = 0;
        foreach (var (relative, lines) in RepositoryRoot.SourceFiles())
        {
            scanned++;
            var lineNumber = 0;
            foreach (var line in lines)
            {
                lineNumber++;
                var code = line.TrimStart();
                if (code.StartsWith("//", StringComparison.Ordinal)) continue;
                if (Blocking().IsMatch(line) && !NotTasks.Any(n => n.File == relative && line.Contains(n.Text, StringComparison.Ordinal)))
                    hits.Add($"{relative}:{lineNumber}: {code}");
            }
        }
        Assert.True(scanned > 100, $"only {scanned} source files were scanned under src/");
        Assert.True(hits.Count == 0, "Library code that blocks on a task (start it in an IHostedService or await it):\n" + string.Join("\n", hits));
    }

    [Theory]
    [InlineData("return StartAsync(o).GetAwaiter().GetResult();")]
    [InlineData("var p = task.Result;")]
    [InlineData("task.Wait();")]
    [InlineData("Task.WaitAll(a, b);")]
    public void The_scan_recognises_each_blocking_form(string line) => Assert.Matches(Blocking(), line);

    [Theory]
    [InlineData("var r = await client.GetResultAsync();")]
    [InlineData("return x.ResultCode;")]
    [InlineData("await Task.WhenAll(a, b);")]
    [InlineData("await gate.WaitAsync(ct);")]
    public void The_scan_leaves_non_blocking_code_alone(string line) => Assert.DoesNotMatch(Blocking(), line);
}
