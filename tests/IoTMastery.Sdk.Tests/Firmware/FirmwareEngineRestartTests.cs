using System.Text.Json.Nodes;
using IoTMastery.Sdk.Local;
using IoTMastery.Sdk.Providers;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Data.Sqlite;

namespace IoTMastery.Sdk.Tests.Firmware;

/// <summary>
/// Crash safety of the shared firmware engine at the store level: a decision is durable before its actions run, so an
/// engine that goes away between the two leaves them in the store and the next engine performs them. Devices are real
/// (a Local provider's registry and state); only the failure is injected.
/// </summary>
public sealed class FirmwareEngineRestartTests : IAsyncLifetime
{
    private readonly TempFirmwareStore _file = new();
    private LocalIoTProvider _local = null!;

    public async Task InitializeAsync()
    {
        _local = await LocalIoTProvider.StartAsync();
        foreach (var id in new[] { "d0", "d1" })
            await _local.Registry.RegisterAsync(new DeviceRegistration { Id = id });
    }

    public async Task DisposeAsync()
    {
        await _local.DisposeAsync();
        _file.Dispose();
    }

    private static FirmwareRelease Release(string version) => FirmwareTestReleases.Release(version);

    [Fact]
    public async Task Actions_persisted_by_an_engine_that_could_not_perform_them_are_performed_by_the_next_engine()
    {
        string rolloutId;
        using (var store = new SqliteFirmwareStore(_file.Path))
        {
            var failing = new FailingDelivery(new StateFirmwareDelivery(_local.State, DeviceIdRules.Local));
            using var engine = new FirmwareEngine(store, failing, "Local");
            await engine.CreateReleaseAsync(Release("2.0.0"));
            var started = await engine.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0", "d1"], WaveSizes = [2] });
            rolloutId = started.Id;

            // The decision is in the store with both offers outstanding; no device was written to.
            var stored = await store.GetRolloutAsync(rolloutId);
            Assert.Equal([new RolloutAction(RolloutActionKind.Offer, "d0", "2.0.0"), new RolloutAction(RolloutActionKind.Offer, "d1", "2.0.0")], stored!.PendingActions);
            Assert.Equal(2, failing.Attempts);
            Assert.Null((await _local.State.GetAsync("d0")).Desired["firmware"]);
        }
        SqliteConnection.ClearAllPools();

        // A new engine on the same file, as in a new process: the first read performs what was left.
        using (var store = new SqliteFirmwareStore(_file.Path))
        using (var engine = new FirmwareEngine(store, new StateFirmwareDelivery(_local.State, DeviceIdRules.Local), "Local"))
        {
            var rollout = await engine.GetRolloutAsync(rolloutId);
            Assert.Equal(RolloutStatus.InProgress, rollout.Status);
            foreach (var id in new[] { "d0", "d1" })
            {
                var desired = FirmwareStateContract.ParseDesired((await _local.State.GetAsync(id)).Desired["firmware"]);
                Assert.Equal(("2.0.0", rolloutId), (desired.Release.Version, desired.RolloutId));
            }
            Assert.Empty((await store.GetRolloutAsync(rolloutId))!.PendingActions);
            Assert.Contains(rolloutId, await store.ListUnfinishedRolloutIdsAsync());
        }
    }

    [Fact]
    public async Task Two_stores_on_one_file_cannot_both_apply_a_decision()
    {
        using var a = new SqliteFirmwareStore(_file.Path);
        using var b = new SqliteFirmwareStore(_file.Path);
        var decision = RolloutOrchestrator.Start("ro-1", new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0"] }, new Dictionary<string, string?>(), DateTimeOffset.UnixEpoch);
        await a.AddRolloutAsync(decision.Rollout, decision.Actions);
        var seenByA = await a.GetRolloutAsync("ro-1");
        var seenByB = await b.GetRolloutAsync("ro-1");

        Assert.True(await a.TryUpdateRolloutAsync(seenByA!.Rollout with { Reason = "a" }, [], seenByA.Revision));
        Assert.False(await b.TryUpdateRolloutAsync(seenByB!.Rollout with { Reason = "b" }, [], seenByB.Revision));
        var final = await b.GetRolloutAsync("ro-1");
        Assert.Equal(("a", seenByA.Revision + 1), (final!.Rollout.Reason, final.Revision));
        await IoTAssert.ThrowsAsync(IoTErrorKind.AlreadyExists, () => b.AddRolloutAsync(decision.Rollout, []));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_file.Path));
    }

    [Fact]
    public async Task A_store_file_with_a_newer_schema_is_refused_with_a_clear_error()
    {
        using (var store = new SqliteFirmwareStore(_file.Path))
            await store.AddReleaseIfAbsentAsync(Release("1.0.0"));
        using (var connection = new SqliteConnection($"Data Source={_file.Path}"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO firmware_schema_version (version) VALUES (99)";
            command.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();
        var error = Assert.Throws<InvalidOperationException>(() => new SqliteFirmwareStore(_file.Path));
        Assert.Contains("schema version 99", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The real delivery with every desired-state write failing, as if the process died before performing them.</summary>
    private sealed class FailingDelivery(IFirmwareDelivery inner) : IFirmwareDelivery
    {
        public int Attempts;

        public DeviceIdRules DeviceIdRules => inner.DeviceIdRules;

        public Task<ReportedFirmware?> ReadReportedAsync(string deviceId, CancellationToken cancellationToken = default) => inner.ReadReportedAsync(deviceId, cancellationToken);

        public Task WriteDesiredAsync(string deviceId, JsonObject firmware, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Attempts);
            throw new IoTException(IoTErrorKind.Unknown, "Injected: the process stops before this write.", "Test", "Injected", isTransient: true);
        }
    }
}
