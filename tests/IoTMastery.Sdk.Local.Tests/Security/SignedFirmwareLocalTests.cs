using System.Security.Cryptography;
using IoTMastery.Sdk.Local.Tests.Services;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Local.Tests.Security;

/// <summary>
/// The Local provider keeps the operator's release signature in its database and hands it out in the desired firmware;
/// devices verifying it end to end is the firmware contract (tests/IoTMastery.Sdk.Contract.Tests).
/// </summary>
public sealed class SignedFirmwareLocalTests
{
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
        using var signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var temp = new TempDatabase();
        var time = new FakeTimeProvider(LocalFixture.Start);
        var signed = Release("2.0.0", "/fw/2.bin", [1, 2, 3]).Sign(signer);
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
            using var verifier = FirmwareSignatureVerifier.FromPublicKeyPem(signer.ExportSubjectPublicKeyInfoPem());
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
            // Turn the file back into schema 1: undo migrations 2 (signature column) and 3 (restrictions table), version 1 recorded.
            await store.WriteAsync(async (c, tx, ct) =>
            {
                await LocalStore.ExecuteAsync(c, tx, "DROP TABLE firmware_restrictions", ct);
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
        using var signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var signed = await f.Firmware.CreateReleaseAsync(Release("1.0.0", "/fw/1.bin", [7]).Sign(signer));
        Assert.Equal(signed.Signature, (await f.Firmware.GetReleaseAsync("1.0.0")).Signature);
    }
}
