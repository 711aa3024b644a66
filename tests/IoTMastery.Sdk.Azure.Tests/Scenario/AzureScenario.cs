using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure.Tests.Scenario;

/// <summary>
/// The quickstart scenario on the Azure provider — register, connect, telemetry, command, desired-state firmware rollout —
/// written against the neutral API only, so samples/MultiCloud can run the same steps with <c>--provider azure</c>.
/// Telemetry consumption is not part of it: it needs AzureIoTOptions.EventHub; AzureTelemetryEndToEndTests reads it on the double.
/// </summary>
public static class AzureScenario
{
    /// <summary>What the scenario observed.</summary>
    public sealed record Outcome(int Registered, int Connected, int RecordsSent, int CommandsOk, Rollout Rollout, IReadOnlyDictionary<string, string> RunningVersions);

    public static async Task<Outcome> RunAsync(IIoTProvider provider, int deviceCount, TextWriter log, CancellationToken cancellationToken,
        CredentialKind credentialKind = CredentialKind.SymmetricKey)
    {
        var ids = Enumerable.Range(1, deviceCount).Select(i => $"dev-{i:000}").ToList();
        var failing = ids[^1];
        var devices = new List<(IDeviceConnection Connection, FirmwareUpdateAgent Agent)>();
        var firmwareDir = Directory.CreateTempSubdirectory("azure-scenario-fw-");
        try
        {
            // 1. Register with SAS keys issued by the hub, or self-signed X.509 certificates (as the Local quickstart does).
            var credentials = new Dictionary<string, IssuedCredential>();
            foreach (var id in ids)
            {
                var result = await provider.Registry.RegisterAsync(new DeviceRegistration
                {
                    Id = id,
                    Attributes = new Dictionary<string, string> { ["site"] = "lab" },
                    Credential = new CredentialRequest { Kind = credentialKind },
                }, cancellationToken);
                credentials[id] = result.Credential!;
            }
            log.WriteLine($"registered {ids.Count} devices");

            // 2. Connect; each device answers reboot and follows desired firmware; the last one fails its health check.
            foreach (var id in ids)
            {
                var connection = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = credentials[id] });
                var agent = new FirmwareUpdateAgent(connection, "1.0.0", (release, _, _) => ValueTask.FromResult(id != failing || release.Version == "1.0.0"));
                connection.SetCommandHandler((command, _) => ValueTask.FromResult(command.Name == "reboot"
                    ? new CommandResponse(200, new JsonObject { ["rebooted"] = true })
                    : new CommandResponse(404, new JsonObject { ["error"] = "unknown command" })));
                connection.SetDesiredStateHandler(agent.HandleDesiredStateAsync);
                await connection.ConnectAsync(cancellationToken);
                await agent.ReportRunningVersionAsync(cancellationToken);
                devices.Add((connection, agent));
            }
            log.WriteLine($"connected {devices.Count(d => d.Connection.IsConnected)}/{devices.Count}");

            // 3. Telemetry through the batching pipeline: one IoT Hub message carries many records.
            const int perDevice = 20;
            var start = DateTimeOffset.UtcNow;
            foreach (var (connection, _) in devices)
            {
                for (var i = 0; i < perDevice; i++)
                    await connection.SendTelemetryAsync(new TelemetryRecord(connection.DeviceId, "temperature", 20 + i * 0.1, start.AddSeconds(i)), cancellationToken);
                await connection.FlushAsync(cancellationToken);
            }
            log.WriteLine($"sent {perDevice * devices.Count} telemetry records");

            // 4. Commands as direct methods.
            var ok = 0;
            foreach (var id in ids)
            {
                var reply = await provider.Commands.InvokeAsync(id, new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(10) }, cancellationToken);
                if (reply.Status == 200) ok++;
            }
            log.WriteLine($"reboot: {ok}/{ids.Count} replied 200");

            // 5. Firmware rollout through the desired 'firmware' property: a canary wave, then the rest.
            await CreateReleaseAsync(provider.Firmware, "1.0.0", firmwareDir, cancellationToken);
            await CreateReleaseAsync(provider.Firmware, "1.1.0", firmwareDir, cancellationToken);
            var rollout = (await provider.Firmware.StartRolloutAsync(new RolloutPlan
            {
                ReleaseVersion = "1.1.0",
                DeviceIds = ids,
                WaveSizes = [1, ids.Count - 1],
                SuccessThreshold = 0.5,
                FailureThreshold = 0.6,
                DeviceTimeout = TimeSpan.FromSeconds(30),
            }, cancellationToken)).Value;
            var clock = Stopwatch.StartNew();
            while (rollout.Status == RolloutStatus.InProgress && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(200, cancellationToken);
                rollout = await provider.Firmware.GetRolloutAsync(rollout.Id, cancellationToken);
            }
            // Let the rolled-back device finish re-installing 1.0.0.
            while (devices.Any(d => d.Agent.RunningVersion != Expected(d.Connection.DeviceId)) && clock.Elapsed < TimeSpan.FromSeconds(60))
                await Task.Delay(100, cancellationToken);
            log.WriteLine($"rollout {rollout.Status}: {rollout.Count(DeviceRolloutStatus.Succeeded)} succeeded, {rollout.Count(DeviceRolloutStatus.RolledBack)} rolled back");
            return new Outcome(ids.Count, devices.Count(d => d.Connection.IsConnected), perDevice * devices.Count, ok, rollout,
                devices.ToDictionary(d => d.Connection.DeviceId, d => d.Agent.RunningVersion));

            string Expected(string id) => id == failing ? "1.0.0" : "1.1.0";
        }
        finally
        {
            foreach (var (connection, _) in devices) await connection.DisposeAsync();
            firmwareDir.Delete(recursive: true);
        }
    }

    private static async Task CreateReleaseAsync(IFirmwareService firmware, string version, DirectoryInfo dir, CancellationToken ct)
    {
        var image = RandomNumberGenerator.GetBytes(16 * 1024);
        var path = Path.Combine(dir.FullName, $"firmware-{version}.bin");
        await File.WriteAllBytesAsync(path, image, ct);
        await firmware.CreateReleaseAsync(new FirmwareRelease { Version = version, Uri = new Uri(path), Sha256 = Convert.ToHexStringLower(SHA256.HashData(image)), SizeBytes = image.Length }, ct);
    }
}
