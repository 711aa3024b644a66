using System.Security.Cryptography;
using System.Text;
using IoTMastery.Sdk;
using IoTMastery.Sdk.Local;
using IoTMastery.Sdk.Providers;

namespace SecurityPatchingSample;

/// <summary>What the walkthrough observed, for its exit code and its test.</summary>
/// <param name="AffectedBefore">Devices the advisory affected when it was imported.</param>
/// <param name="Restricted">Devices restricted to firmware-update traffic by the fleet's minimum version.</param>
/// <param name="TelemetryRefusedWhileRestricted">Whether a restricted device's telemetry was refused by the broker.</param>
/// <param name="Rollout">The urgent rollout as it ended.</param>
/// <param name="AffectedAfter">Devices the advisory still affects after the rollout.</param>
/// <param name="PatchedWithin24Hours">Devices patched within 24 hours of the import, per the report.</param>
/// <param name="StillRestricted">Devices still restricted after the rollout (those it could not patch).</param>
public sealed record PatchingOutcome(
    IReadOnlyList<string> AffectedBefore,
    IReadOnlyList<string> Restricted,
    bool TelemetryRefusedWhileRestricted,
    Rollout Rollout,
    IReadOnlyList<string> AffectedAfter,
    int PatchedWithin24Hours,
    IReadOnlyList<string> StillRestricted)
{
    /// <summary>The device whose health check fails on the fix, so the rollout rolls it back.</summary>
    public const string FailingDevice = "pump-8";

    /// <summary>Every step ended as the walkthrough promises.</summary>
    public bool AsExpected =>
        AffectedBefore.Count == 8 && Restricted.SequenceEqual(AffectedBefore) && TelemetryRefusedWhileRestricted
        && Rollout.Status == RolloutStatus.Completed && AffectedAfter.SequenceEqual([FailingDevice])
        && PatchedWithin24Hours == 7 && StillRestricted.SequenceEqual([FailingDevice]);
}

/// <summary>
/// Security patching on the embedded Local provider, in the order an operator lives it: a vulnerability is published for
/// firmware 1.4.x; which devices run it? Hold them to firmware-update traffic, push the fix with an urgent (but still
/// health-checked) rollout, and watch the compliance report follow. One device fails the fix's health check and is rolled
/// back: it stays affected and restricted, which is exactly what the report and the broker say.
/// </summary>
public static class PatchingWalkthrough
{
    private const string Advisory = """
        {
          "schema_version": "1.6.0",
          "id": "GHSA-demo-pump-0001",
          "modified": "2026-12-01T00:00:00Z",
          "summary": "Buffer overflow in the pump's Modbus parser",
          "affected": [{ "package": { "ecosystem": "Firmware", "name": "pump" },
                         "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "1.4.0" }, { "fixed": "1.4.3" }] }] }],
          "database_specific": { "severity": "CRITICAL" }
        }
        """;

    /// <summary>Runs the walkthrough in a temporary folder (deleted afterwards), writing what happens to <paramref name="output"/>.</summary>
    public static async Task<PatchingOutcome> RunAsync(TextWriter output, CancellationToken ct)
    {
        var folder = Directory.CreateTempSubdirectory("iotm-patching-");
        var devices = new List<IDeviceConnection>();
        try
        {
            var database = Path.Combine(folder.FullName, "fleet.db");
            await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = database }, cancellationToken: ct);
            // The operator's signing key: a plain BCL ECDSA P-256 key. Devices trust only its public half.
            using var signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            await ReleaseAsync(provider, signer, folder, "1.4.1", ct);
            await ReleaseAsync(provider, signer, folder, "1.4.3", ct);

            // Eight pumps run the vulnerable 1.4.1; pump-8 will fail the fix's health check. One newer pump runs 2.0.0.
            var ids = Enumerable.Range(1, 8).Select(i => $"pump-{i}").Append("pump-9").ToArray();
            foreach (var id in ids)
            {
                var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 }, ct);
                var connection = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registration.Credential! });
                var agent = new FirmwareUpdateAgent(connection, id == "pump-9" ? "2.0.0" : "1.4.1",
                    new FirmwareUpdateAgentOptions { TrustedOperatorKeyPem = signer.ExportSubjectPublicKeyInfoPem() },
                    (release, _, _) => ValueTask.FromResult(id != PatchingOutcome.FailingDevice || release.Version != "1.4.3"));
                connection.SetDesiredStateHandler(agent.HandleDesiredStateAsync);
                await connection.ConnectAsync(ct);
                // Acknowledged once stored: the report below reads it.
                await agent.ReportRunningVersionAsync(ct);
                devices.Add(connection);
            }

            // 1. The advisory arrives (a file or a feed in OSV format) and lands beside the releases in the fleet's database.
            using var patching = SecurityPatching.Open(provider, database);
            var advisory = (await patching.ImportOsvAsync(new MemoryStream(Encoding.UTF8.GetBytes(Advisory)), ct)).Single();
            var affected = await patching.FindAffectedDevicesAsync(advisory, ct);
            var fix = await patching.FindFixedReleaseAsync(advisory, ct);
            await output.WriteLineAsync($"{advisory.Id} ({advisory.Severity}) affects {affected.Count} devices: {string.Join(", ", affected)}; fixed in {fix?.Version}.");

            // 2. Until they are patched, the vulnerable devices may only take firmware updates (Local's broker enforces it).
            const string minimumVersion = "1.4.3";
            var restricted = await patching.RestrictDevicesBelowMinimumAsync(minimumVersion, cancellationToken: ct);
            var refused = await TelemetryRefusedAsync(devices[0], ct);
            await output.WriteLineAsync($"Restricted to firmware-update traffic: {string.Join(", ", restricted)}; {devices[0].DeviceId}'s telemetry is {(refused ? "refused" : "still accepted")}.");

            // 3. The urgent rollout: a 25% canary, then the rest; still health-checked, and a failing device is rolled back.
            var operation = await provider.Firmware.StartRolloutAsync(RolloutPlan.Urgent(fix!.Version, affected), ct);
            var rollout = await operation.WaitForCompletionAsync(cancellationToken: ct);
            // The rollout ends once its last wave is decided; a rolled-back device may still be reinstalling its old version.
            while (rollout.Devices.Any(d => d.Status == DeviceRolloutStatus.InProgress))
            {
                await Task.Delay(100, ct);
                rollout = await operation.UpdateStatusAsync(ct);
            }
            await output.WriteLineAsync($"Urgent rollout {rollout.Id}: {rollout.Status}, {rollout.Count(DeviceRolloutStatus.Succeeded)} patched, {rollout.Count(DeviceRolloutStatus.RolledBack)} rolled back.");

            // 4. The report follows what the devices report: who is still affected, and how fast the others were patched.
            // The rolled-back device reports its old version again once it has reinstalled it.
            ComplianceReport report;
            var restrictedAfter = await patching.ListRestrictedDevicesAsync(ct);
            while ((report = await patching.GetComplianceReportAsync(minimumVersion, ct)).Advisories.Single().AffectedDevices.Count != 1 || restrictedAfter.Count != 1)
            {
                await Task.Delay(100, ct);
                restrictedAfter = await patching.ListRestrictedDevicesAsync(ct);
            }
            await output.WriteLineAsync();
            await output.WriteAsync(report.ToTable());
            await output.WriteLineAsync($"Still restricted: {string.Join(", ", restrictedAfter.Keys)}");
            var compliance = report.Advisories.Single();
            return new PatchingOutcome(affected, restricted, refused, rollout, compliance.AffectedDevices, compliance.PatchedWithin24Hours,
                restrictedAfter.Keys.Order(StringComparer.Ordinal).ToArray());
        }
        finally
        {
            foreach (var device in devices) await device.DisposeAsync();
            folder.Delete(recursive: true);
        }
    }

    /// <summary>Sends one reading and flushes it; the broker's refusal surfaces from the flush.</summary>
    private static async Task<bool> TelemetryRefusedAsync(IDeviceConnection device, CancellationToken ct)
    {
        await device.SendTelemetryAsync(new TelemetryRecord(device.DeviceId, "pressure", 2.4, DateTimeOffset.UtcNow), ct);
        try
        {
            await device.FlushAsync(ct);
            return false;
        }
        catch (IoTException ex) when (ex.InnerException is IoTException { Kind: IoTErrorKind.Authorization })
        {
            return true;
        }
    }

    /// <summary>A signed release whose image is a local file (the agent downloads <c>file:</c> URIs).</summary>
    private static async Task ReleaseAsync(LocalIoTProvider provider, ECDsa signer, DirectoryInfo folder, string version, CancellationToken ct)
    {
        var image = RandomNumberGenerator.GetBytes(16 * 1024);
        var path = Path.Combine(folder.FullName, $"pump-{version}.bin");
        await File.WriteAllBytesAsync(path, image, ct);
        var release = new FirmwareRelease
        {
            Version = version, Uri = new Uri(path), Sha256 = Convert.ToHexStringLower(SHA256.HashData(image)), SizeBytes = image.Length,
        };
        await provider.Firmware.CreateReleaseAsync(release.Sign(signer), ct);
    }
}
