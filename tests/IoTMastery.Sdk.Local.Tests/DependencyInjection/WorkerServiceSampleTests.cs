using System.Diagnostics;
using System.Text.RegularExpressions;
using IoTMastery.Sdk.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WorkerService;

namespace IoTMastery.Sdk.Local.Tests.DependencyInjection;

/// <summary>
/// Runs samples/WorkerService in-process with its own appsettings.json: the host starts both configured providers and the
/// worker does its round trip on each, then stops the host.
/// </summary>
public sealed class WorkerServiceSampleTests
{
    [Fact]
    public async Task The_sample_registers_sends_and_reads_back_on_both_configured_providers()
    {
        using var host = Program.CreateBuilder([]).Build();
        var report = host.Services.GetRequiredService<WorkerReport>();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        // The worker stops the host when it is done (Worker:StopWhenDone in appsettings.json); the bound only guards a hang.
        await host.RunAsync(bound.Token);
        Assert.False(bound.IsCancellationRequested, "the sample did not finish within its bound");

        Assert.False(report.Failed);
        var runs = report.Runs.OrderBy(r => r.Provider, StringComparer.Ordinal).ToList();
        Assert.Equal(["edge", "plant"], runs.Select(r => r.Provider));
        foreach (var run in runs)
        {
            Assert.Equal("Local", run.Kind);
            Assert.Equal(5, run.Sent);
            Assert.Equal(5, run.Received);
            // 20 + 21 + 22 + 23 + 24: every reading came back once, with its value.
            Assert.Equal(110, run.Sum);
        }
    }

    [Fact]
    public async Task The_sample_process_runs_for_its_seconds_and_prints_the_sdk_spans_and_metrics_with_the_console_exporter()
    {
        // The sample as a user runs it: its own process, its appsettings.json, the OpenTelemetry console exporter on stdout.
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "WorkerService.dll"), "--seconds", "1", "--Worker:MetricsExportSeconds", "1" })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}\n{output}\n{await stderr}");

        // Spans of the SDK's source: registry calls and telemetry sends on both providers' devices.
        foreach (var span in new[] { "registry.register", "registry.delete", "send" })
            Assert.Matches(new Regex($@"Activity\.DisplayName:\s+{Regex.Escape(span)}\b"), output);
        Assert.Matches(new Regex($@"Instrumentation scope \(ActivitySource\):\s+Name: {Regex.Escape(SdkTraceNames.ActivitySource)}\b"), output);
        foreach (var device in new[] { "sensor-edge-0", "sensor-plant-0" })
            Assert.Matches(new Regex($@"iotmastery\.device\.id:\s+{device}\b"), output);
        // Metrics of the SDK's meter: the telemetry the devices sent.
        Assert.Matches(new Regex($@"Instrumentation scope \(Meter\):\s+Name: {Regex.Escape(SdkMetricNames.Meter)}\b"), output);
        Assert.Matches(new Regex($@"Metric Name: {Regex.Escape(SdkMetricNames.TelemetryRecordsSent)}\b"), output);
        // More than one round in the second the run was given is not promised on a busy machine; at least one is.
        Assert.Matches(new Regex(@"Done: [1-9]\d* round trips completed in [1-9]\d* rounds"), output);
    }
}
