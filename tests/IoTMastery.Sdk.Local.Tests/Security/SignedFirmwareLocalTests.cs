using System.Security.Cryptography;
using IoTMastery.Sdk.Local.Tests.Services;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Local.Tests.Security;

/// <summary>The Local provider keeps the operator's release signature and hands it to devices, which verify it.</summary>
public sealed class SignedFirmwareLocalTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static FirmwareRelease Release(string version, string path, byte[] image) => new()
    {
        Version = version,
        Uri = new Uri(path),
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(image)),
        SizeBytes = image.Length,
    };

    [Fact]
    public async Task The_signature_is_stored_survives_reopening_and_goes_out_in_the_desired_firmware()
    {
        using var signer = FirmwareSigner.Create();
        using var temp = new TempDatabase();
        var time = new FakeTimeProvider(LocalFixture.Start);
        var signed = signer.Sign(Release("2.0.0", "/fw/2.bin", [1, 2, 3]));
        using (var f = await LocalFixture.CreateAsync(LocalStore.OpenFile(temp.Path), time))
        {
            Assert.Equal(signed.Signature, (await f.Firmware.CreateReleaseAsync(signed)).Signature);
            await f.Firmware.CreateReleaseAsync(Release("1.0.0", "/fw/1.bin", [9]));
        }
        using (var f = await LocalFixture.CreateAsync(LocalStore.OpenFile(temp.Path), time))
        {
            var stored = await f.Firmware.GetReleaseAsync("2.0.0");
            Assert.Equal(signed.Signature, stored.Signature);
            Assert.Null((await f.Firmware.GetReleaseAsync("1.0.0")).Signature);
            using var verifier = FirmwareSignatureVerifier.FromPublicKeyPem(signer.PublicKeyPem);
            Assert.True(verifier.Verify(stored));

            await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1" });
            await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d1"] });
            var desired = (await f.State.GetAsync("d1")).Desired["firmware"]!.AsObject();
            Assert.Equal(signed.Signature, desired[FirmwareStateContract.SignatureProperty]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task A_database_from_before_signatures_is_migrated_and_keeps_its_releases()
    {
        using var temp = new TempDatabase();
        using (var store = LocalStore.OpenFile(temp.Path))
        {
            // Turn the file back into schema 1: no signature column, version 1 recorded.
            await store.WriteAsync(async (c, tx, ct) =>
            {
                await LocalStore.ExecuteAsync(c, tx, "ALTER TABLE firmware_releases DROP COLUMN signature", ct);
                await LocalStore.ExecuteAsync(c, tx, "DELETE FROM schema_version WHERE version > 1", ct);
                return await LocalStore.ExecuteAsync(c, tx,
                    "INSERT INTO firmware_releases (version, uri, sha256, size, created_at) VALUES ('0.9.0', 'file:///fw/0.9.bin', $sha, 5, 0)", ct, ("$sha", new string('b', 64)));
            }, default);
        }
        SqliteConnection.ClearAllPools();

        using var f = await LocalFixture.CreateAsync(LocalStore.OpenFile(temp.Path));
        var old = await f.Firmware.GetReleaseAsync("0.9.0");
        Assert.Null(old.Signature);
        using var signer = FirmwareSigner.Create();
        var signed = await f.Firmware.CreateReleaseAsync(signer.Sign(Release("1.0.0", "/fw/1.bin", [7])));
        Assert.Equal(signed.Signature, (await f.Firmware.GetReleaseAsync("1.0.0")).Signature);
    }

    [Fact]
    public async Task A_device_with_the_operator_key_installs_a_signed_rollout_and_refuses_an_unsigned_one()
    {
        using var signer = FirmwareSigner.Create();
        await using var provider = await LocalIoTProvider.StartAsync().WaitAsync(Timeout);
        var dir = Directory.CreateTempSubdirectory("iotm-signed-fw-");
        try
        {
            var image = RandomNumberGenerator.GetBytes(10_000);
            var path = Path.Combine(dir.FullName, "fw.bin");
            await File.WriteAllBytesAsync(path, image);
            await provider.Firmware.CreateReleaseAsync(signer.Sign(Release("2.0.0", path, image)));
            await provider.Firmware.CreateReleaseAsync(Release("3.0.0", path, image));   // unsigned

            var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "fw-dev", Credential = CredentialRequest.X509 });
            await using var connection = provider.Devices.Create(new DeviceConnectionOptions { DeviceId = "fw-dev", Credential = registration.Credential! });
            var installed = new List<string>();
            var agent = new FirmwareUpdateAgent(connection, "1.0.0", new FirmwareUpdateAgentOptions { TrustedOperatorKeyPem = signer.PublicKeyPem },
                (release, _, _) => { lock (installed) installed.Add(release.Version); return ValueTask.FromResult(true); });
            connection.SetDesiredStateHandler(agent.HandleDesiredStateAsync);
            await connection.ConnectAsync().WaitAsync(Timeout);
            await agent.ReportRunningVersionAsync().WaitAsync(Timeout);

            var first = await RunRolloutAsync(provider, "2.0.0");
            Assert.Equal(RolloutStatus.Completed, first.Status);
            Assert.Equal("2.0.0", agent.RunningVersion);

            var second = await RunRolloutAsync(provider, "3.0.0");
            // Refused, so the rollout sends it back to the signed 2.0.0 it still runs.
            var refused = Assert.Single(second.Devices);
            Assert.Contains(refused.Status, new[] { DeviceRolloutStatus.Failed, DeviceRolloutStatus.RolledBack });
            Assert.Contains("not signed", refused.Error, StringComparison.Ordinal);
            Assert.Equal("2.0.0", agent.RunningVersion);
            lock (installed) Assert.Equal(["2.0.0"], installed);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<Rollout> RunRolloutAsync(LocalIoTProvider provider, string version)
    {
        var rollout = await provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = version, DeviceIds = ["fw-dev"], FailureThreshold = 1.0 });
        var deadline = DateTime.UtcNow + Timeout;
        while (rollout.Status == RolloutStatus.InProgress && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            rollout = await provider.Firmware.GetRolloutAsync(rollout.Id);
        }
        return rollout;
    }
}
