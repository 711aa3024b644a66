using System.Text.Json.Nodes;
using IoTMastery.Sdk.Local.Tests.Services;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Local.Tests.Storage;

public sealed class LocalStoreTests
{
    [Fact]
    public async Task Devices_state_rollouts_and_the_ca_survive_reopening_the_file()
    {
        using var temp = new TempDatabase();
        var time = new FakeTimeProvider(LocalFixture.Start);
        string thumbprint, caPem, rolloutId;
        using (var f = await LocalFixture.CreateAsync(LocalStore.OpenFile(temp.Path), time))
        {
            var registered = await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1", Credential = CredentialRequest.X509, Attributes = new Dictionary<string, string> { ["k"] = "v" } });
            thumbprint = registered.Credential!.Id;
            caPem = f.Ca.CertificatePem;
            await f.State.UpdateDesiredAsync("d1", new JsonObject { ["led"] = "on" });
            await f.State.ApplyReportedAsync("d1", new JsonObject { ["temp"] = 21.5 }, default);
            await f.Firmware.CreateReleaseAsync(new FirmwareRelease { Version = "1.0.0", Uri = new Uri("file:///fw/1.bin"), Sha256 = new string('0', 64), SizeBytes = 1 });
            rolloutId = (await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "1.0.0", DeviceIds = ["d1"] })).Id;
        }

        using (var f = await LocalFixture.CreateAsync(LocalStore.OpenFile(temp.Path), time))
        {
            Assert.Equal(caPem, f.Ca.CertificatePem);
            Assert.True(await f.Registry.CanConnectAsync("d1", thumbprint, default));
            var device = await f.Registry.GetAsync("d1");
            Assert.Equal("v", device.Attributes["k"]);
            var state = await f.State.GetAsync("d1");
            Assert.Equal(("on", 21.5), (state.Desired["led"]!.GetValue<string>(), state.Reported["temp"]!.GetValue<double>()));
            Assert.Equal(2, state.DesiredVersion);   // the rollout's offer was the second change
            var rollout = await f.Firmware.GetRolloutAsync(rolloutId);
            Assert.Equal((RolloutStatus.InProgress, DeviceRolloutStatus.InProgress), (rollout.Status, rollout.Devices[0].Status));
            Assert.Equal(TimeSpan.FromMinutes(10), rollout.Plan.DeviceTimeout);
        }
    }

    [Fact]
    public async Task The_file_is_in_wal_mode_with_the_current_schema_version()
    {
        using var temp = new TempDatabase();
        using (LocalStore.OpenFile(temp.Path)) { }
        using var store = LocalStore.OpenFile(temp.Path);    // reopening does not migrate twice
        var (mode, version) = await store.ReadAsync(async (c, ct) =>
        {
            await using var journal = LocalStore.Command(c, null, "PRAGMA journal_mode");
            await using var schema = LocalStore.Command(c, null, "SELECT COUNT(*) || ':' || MAX(version) FROM schema_version");
            return ((string)(await journal.ExecuteScalarAsync(ct))!, (string)(await schema.ExecuteScalarAsync(ct))!);
        }, default);
        Assert.Equal("wal", mode);
        Assert.Equal($"{LocalStore.SchemaVersion}:{LocalStore.SchemaVersion}", version);
    }

    [Fact]
    public void A_file_in_a_folder_that_does_not_exist_yet_is_created_with_its_folder()
    {
        var root = Directory.CreateTempSubdirectory("iotm-store-");
        try
        {
            var path = System.IO.Path.Combine(root.FullName, "new", "nested", "fleet.db");
            using (LocalStore.OpenFile(path)) { }
            Assert.True(File.Exists(path));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task In_memory_stores_are_isolated_and_refuse_use_after_dispose()
    {
        using var a = await LocalFixture.CreateAsync();
        using var b = await LocalFixture.CreateAsync();
        await a.Registry.RegisterAsync(new DeviceRegistration { Id = "only-in-a" });
        Assert.Empty(await b.Registry.ListAsync().ToListAsync());

        var store = LocalStore.OpenInMemory();
        store.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.ReadAsync((_, _) => Task.FromResult(0), default));
    }
}
