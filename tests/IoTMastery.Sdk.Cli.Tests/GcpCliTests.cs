namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>The tool as a process against a GCP-style registry (the Cloud IoT registry double as ClearBlade), configured only from the environment.</summary>
public sealed class GcpCliTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-gcp-").FullName;
    private readonly GcpStylePeer _gcp = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _gcp.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<IotmRun> Iotm(params string[] args) => IotmProcess.RunAsync(["--provider", "gcp", .. args], _gcp.Env());

    [Fact]
    public Task Fleet_operations_run_end_to_end_against_the_registry_double() => CliFleetSmoke.RunAsync(Iotm, Path.Combine(_dir, "bundles"));
}
