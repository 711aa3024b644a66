using IoTMastery.Sdk.CloudDoubles.IotHub;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>The tool as a process against the IoT Hub double, configured only from the environment (see <see cref="AzureHubPeer"/>).</summary>
public sealed class AzureCliTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-azure-").FullName;
    private AzureHubPeer _hub = null!;

    public async Task InitializeAsync() => _hub = await AzureHubPeer.StartAsync();

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<IotmRun> Iotm(params string[] args) => IotmProcess.RunAsync(["--provider", "azure", .. args], _hub.Env());

    [Fact]
    public Task Fleet_operations_run_end_to_end_against_the_iot_hub_double() => CliFleetSmoke.RunAsync(Iotm, Path.Combine(_dir, "bundles"));

    [Fact]
    public async Task A_hub_whose_certificate_the_tool_does_not_trust_is_refused()
    {
        // Without the CA the TLS handshake fails: the tool reports it as a failure, never by skipping verification.
        var env = _hub.Env();
        env.Remove("SSL_CERT_FILE");
        var run = await IotmProcess.RunAsync(["--provider", "azure", "devices", "list"], env);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("SSL", run.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(IotHubDouble.PolicyKey, run.Stdout + run.Stderr, StringComparison.Ordinal);
    }
}
