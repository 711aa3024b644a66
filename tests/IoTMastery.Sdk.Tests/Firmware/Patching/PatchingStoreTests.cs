using IoTMastery.Sdk.Providers;
using Microsoft.Data.Sqlite;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Firmware.Patching;

/// <summary>The release channel and the plan's ordering rules survive the SQLite store, and older store files are upgraded in place.</summary>
public sealed class PatchingStoreTests : IDisposable
{
    private readonly TempFirmwareStore _file = new();

    public void Dispose() => _file.Dispose();

    private static FirmwareRelease Release(string version, string channel = FirmwareRelease.StableChannel) => new()
    {
        Version = version, Uri = new Uri("https://example.com/" + version), Sha256 = new string('b', 64), SizeBytes = 10, Channel = channel,
    };

    [Fact]
    public async Task Channel_and_plan_ordering_rules_round_trip()
    {
        using var store = new SqliteFirmwareStore(_file.Path);
        await store.AddReleaseIfAbsentAsync(Release("2.0.0-beta.1", "beta"));
        Assert.Equal("beta", (await store.GetReleaseAsync("2.0.0-beta.1"))!.Channel);

        var plan = new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0"], MinimumRunningVersion = "1.2.0", AllowDowngrade = true };
        var decision = RolloutOrchestrator.Start("ro-1", plan, new Dictionary<string, string?> { ["d0"] = "1.3.0" }, DateTimeOffset.UnixEpoch);
        await store.AddRolloutAsync(decision.Rollout, decision.Actions);
        var read = (await store.GetRolloutAsync("ro-1"))!.Rollout.Plan;
        Assert.Equal(("1.2.0", true), (read.MinimumRunningVersion, read.AllowDowngrade));
    }

    [Fact]
    public async Task A_store_written_before_channels_is_upgraded_and_its_releases_are_stable()
    {
        using (var connection = new SqliteConnection($"Data Source={_file.Path}"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            // Schema version 2 exactly as shipped before this change.
            command.CommandText = """
                CREATE TABLE firmware_schema_version (version INTEGER NOT NULL);
                INSERT INTO firmware_schema_version VALUES (1), (2);
                CREATE TABLE firmware_releases (version TEXT NOT NULL PRIMARY KEY, uri TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL, signature TEXT);
                CREATE TABLE rollouts (id TEXT NOT NULL PRIMARY KEY, plan TEXT NOT NULL, status TEXT NOT NULL, current_wave INTEGER NOT NULL, wave_count INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, reason TEXT, revision INTEGER NOT NULL DEFAULT 1, pending_actions TEXT);
                CREATE TABLE rollout_devices (rollout_id TEXT NOT NULL, position INTEGER NOT NULL, device_id TEXT NOT NULL, wave INTEGER NOT NULL, status TEXT NOT NULL, previous_version TEXT, started_at INTEGER, updated_at INTEGER NOT NULL, error TEXT, PRIMARY KEY (rollout_id, position));
                INSERT INTO firmware_releases VALUES ('1.0.0', 'https://example.com/1.0.0', 'cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc', 5, 0, NULL);
                INSERT INTO rollouts VALUES ('ro-old', '{"releaseVersion":"1.0.0","deviceIds":["d0"],"waveSizes":null,"successThreshold":0.9,"failureThreshold":0.2,"deviceTimeoutTicks":6000000000}', 'Completed', 0, 1, 0, 0, NULL, 3, NULL);
                """;
            command.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();

        using var store = new SqliteFirmwareStore(_file.Path);
        Assert.Equal(FirmwareRelease.StableChannel, (await store.GetReleaseAsync("1.0.0"))!.Channel);
        var old = (await store.GetRolloutAsync("ro-old"))!.Rollout.Plan;
        Assert.Equal((null, false), (old.MinimumRunningVersion, old.AllowDowngrade));
    }
}
