using System.Text.Json.Nodes;
using IoTMastery.Sdk;

namespace Quickstart;

/// <summary>
/// A simulated device: answers <c>reboot</c>, follows desired firmware with the SDK's update agent
/// (verifying the operator's signature),
/// and (when told to) fails its post-install health check like a bad update would.
/// </summary>
internal sealed class SimulatedDevice : IAsyncDisposable
{
    private readonly FirmwareUpdateAgent _firmware;

    public SimulatedDevice(IDeviceConnection connection, bool failsUpdate, TimeProvider time, string operatorPublicKeyPem)
    {
        Connection = connection;
        FailsUpdate = failsUpdate;
        // Only releases signed by the operator's key are installed; the health check after install fails on the
        // designated device, except for the known-good 1.0.0.
        _firmware = new FirmwareUpdateAgent(connection, "1.0.0", new FirmwareUpdateAgentOptions { TrustedOperatorKeyPem = operatorPublicKeyPem },
            (release, image, ct) => ValueTask.FromResult(!FailsUpdate || release.Version == "1.0.0"));
        connection.SetCommandHandler((command, ct) => ValueTask.FromResult(command.Name switch
        {
            "reboot" => new CommandResponse(200, new JsonObject { ["rebootedAt"] = time.GetUtcNow().ToString("O") }),
            _ => new CommandResponse(404, new JsonObject { ["error"] = $"unknown command '{command.Name}'" }),
        }));
        connection.SetDesiredStateHandler(_firmware.HandleDesiredStateAsync);
    }

    public IDeviceConnection Connection { get; }

    public string Id => Connection.DeviceId;

    public bool FailsUpdate { get; }

    public string RunningVersion => _firmware.RunningVersion;

    /// <summary>Connects, then reports the running firmware so a rollout knows what to roll back to.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        await Connection.ConnectAsync(cancellationToken);
        await _firmware.ReportRunningVersionAsync(cancellationToken);
    }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();
}
