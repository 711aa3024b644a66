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
}
