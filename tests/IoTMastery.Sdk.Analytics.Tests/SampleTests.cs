using System.Diagnostics;
using System.Reflection;

namespace IoTMastery.Sdk.Analytics.Tests;

public sealed class SampleTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_analytics_sample_streams_a_fleet_into_a_lake_and_duckdb_answers_from_it()
    {
        long sent = 0;
        string path = typeof(SampleTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "AnalyticsSamplePath").Value!;
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _dir.Path,
        };
        foreach (var arg in new[] { path, "--seconds", "3", "--devices", "4" }) start.ArgumentList.Add(arg);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var process = Process.Start(start)!;
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var errors = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"the sample exited {process.ExitCode}: {await errors}\n{await output}");
            string text = await output;
            Assert.Contains("Temperature per device per hour", text, StringComparison.Ordinal);
            Assert.Contains("sensor-003", text, StringComparison.Ordinal);
            var match = System.Text.RegularExpressions.Regex.Match(text, @"Sent ([0-9,]+) readings");
            Assert.True(match.Success, text);
            sent = long.Parse(match.Groups[1].Value.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        // The lake is ./lake of the working directory, and an independent reader counts what the sample reported sending.
        using var db = new LakeDb(Path.Combine(_dir.Path, "lake"));
        long records = db.Long("SELECT count(*) FROM lake");
        Assert.True(records > 0);
        Assert.Equal(sent, records);
        Assert.Equal(records, db.Long("SELECT count(DISTINCT position) FROM lake"));
        Assert.Equal(4, db.Long("SELECT count(DISTINCT device_id) FROM lake"));
    }
}
