using System.Diagnostics;
using System.Reflection;

namespace IoTMastery.Sdk.Analytics.Tests;

/// <summary>
/// The exactly-once proof: the exporter runs as its own process over a durable outbox and is SIGKILLed mid-stream several
/// times (once exactly between a durable file and its acknowledgement), while more telemetry arrives between runs; then
/// DuckDB counts the lake: every record exactly once.
/// </summary>
public sealed class ExporterCrashTests : IDisposable
{
    private static readonly TimeSpan RoundTimeout = TimeSpan.FromSeconds(90);
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Killing_the_exporter_process_mid_stream_leaves_every_record_in_the_lake_exactly_once()
    {
        const int PerFile = 2_000;
        int total = 0;
        Append(40_000, ref total);

        // Kills after a varying number of durable files, so they land mid-batch, mid-write and between batches.
        foreach (int killAfter in new[] { 1, 4, 2 })
        {
            await RunAndKillAsync(PerFile, "run", killAfter);
            Append(7_000, ref total);
        }

        // Exactly in the window: the 2nd file is durable, the process hangs before acknowledging its batch, and dies.
        await RunAndKillAsync(PerFile, "hang-after=2", 3);
        long pendingAfterHang;
        using (var outbox = Fleet.Outbox(_dir.Sub("outbox"))) pendingAfterHang = outbox.PendingCount;
        using (var db = new LakeDb(_dir.Sub("lake")))
        {
            long inLake = db.Long("SELECT count(*) FROM lake");
            // Records both in the lake and still pending: the crash hit after the write, before the acknowledgement.
            Assert.True(inLake + pendingAfterHang > total, $"lake {inLake} + pending {pendingAfterHang} should exceed {total}");
        }

        var drained = await RunToEndAsync(PerFile);
        Assert.StartsWith("drained ", drained, StringComparison.Ordinal);

        using var lake = new LakeDb(_dir.Sub("lake"));
        Assert.Equal(total, lake.Long("SELECT count(*) FROM lake"));
        Assert.Equal(total, lake.Long("SELECT count(DISTINCT position) FROM lake"));
        Assert.Equal(1, lake.Long("SELECT min(position) FROM lake"));
        Assert.Equal(total, lake.Long("SELECT max(position) FROM lake"));
        // Values too, not only counts: the sum over the lake equals the sum over everything appended.
        var expected = Enumerable.Range(0, total).Sum(n => (long)(n % 1000));
        Assert.Equal(expected, lake.Long("SELECT CAST(round(sum(value) * 10) AS BIGINT) FROM lake"));
        Assert.Empty(Directory.GetFiles(_dir.Sub("lake"), "*.tmp", SearchOption.AllDirectories));
        using var outboxAtEnd = Fleet.Outbox(_dir.Sub("outbox"));
        Assert.Equal(0, outboxAtEnd.PendingCount);
    }

    private void Append(int count, ref int total)
    {
        using var outbox = Fleet.Outbox(_dir.Sub("outbox"));
        outbox.AppendBatch(Fleet.Records(count, offset: total));
        total += count;
    }

    private async Task RunAndKillAsync(int perFile, string mode, int killAfterFiles)
    {
        using var timeout = new CancellationTokenSource(RoundTimeout);
        using var process = Start(perFile, mode);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        int written = 0;
        try
        {
            while (written < killAfterFiles && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
                if (line.StartsWith("written ", StringComparison.Ordinal) || line == "hanging")
                    written++;
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
        Assert.True(written >= killAfterFiles, $"the exporter exited before {killAfterFiles} files: {await stderr}");
    }

    private async Task<string> RunToEndAsync(int perFile)
    {
        using var timeout = new CancellationTokenSource(RoundTimeout);
        using var process = Start(perFile, "drain");
        try
        {
            var output = await process.StandardOutput.ReadToEndAsync(timeout.Token);
            var errors = await process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"drain exited {process.ExitCode}: {errors}");
            return output.Trim().Split('\n')[^1];
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    private Process Start(int perFile, string mode)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ExporterPath());
        start.ArgumentList.Add(_dir.Sub("outbox"));
        start.ArgumentList.Add(_dir.Sub("lake"));
        start.ArgumentList.Add(perFile.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add(mode);
        return Process.Start(start)!;
    }

    private static string ExporterPath()
    {
        string path = typeof(ExporterCrashTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "CrashExporterPath").Value!;
        Assert.True(File.Exists(path), $"The crash exporter was not built at '{path}'.");
        return path;
    }
}
