using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Local;
using IoTMastery.Sdk.Providers;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Firmware.Patching;

/// <summary>
/// Time-to-patch from the rollout records in the store, on a fake clock: the 24 h and 7 day buckets, what counts as a
/// patch, and the JSON/table forms. The registry is a real Local provider's.
/// </summary>
public sealed class ComplianceReportTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
    private const string Osv = """{"id":"OSV-T-1","modified":"2026-11-30T00:00:00Z","database_specific":{"severity":"HIGH"},"affected":[{"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"1.1.0"}]}]}]}""";
    private readonly TempFirmwareStore _file = new();
    private readonly FakeTimeProvider _time = new(T0);
    private LocalIoTProvider _local = null!;

    public async Task InitializeAsync() => _local = await LocalIoTProvider.StartAsync();

    public async Task DisposeAsync()
    {
        await _local.DisposeAsync();
        _file.Dispose();
    }

    private static DeviceRolloutState Device(string id, DeviceRolloutStatus status, string? previous, TimeSpan after) =>
        new() { DeviceId = id, Status = status, PreviousVersion = previous, UpdatedAt = T0 + after };

    private static Rollout Rollout(string id, string release, params DeviceRolloutState[] devices) => new()
    {
        Id = id, Plan = new RolloutPlan { ReleaseVersion = release, DeviceIds = devices.Select(d => d.DeviceId).ToArray() },
        Status = RolloutStatus.Completed, WaveCount = 1, Devices = devices, CreatedAt = T0, UpdatedAt = T0,
    };

    [Fact]
    public async Task Patched_devices_are_bucketed_from_the_first_import_and_only_real_patches_count()
    {
        using var store = new SqliteFirmwareStore(_file.Path);
        await store.AddReleaseIfAbsentAsync(new FirmwareRelease { Version = "1.1.0", Uri = new Uri("https://example.com/1.1.0"), Sha256 = new string('d', 64), SizeBytes = 1 });
        var patching = new SecurityPatching(_local, store, _time);
        await patching.ImportOsvAsync(new MemoryStream(Encoding.UTF8.GetBytes(Osv)));
        // A later re-import must not move the start of the clock.
        _time.Advance(TimeSpan.FromDays(30));
        await patching.ImportOsvAsync(new MemoryStream(Encoding.UTF8.GetBytes(Osv)));

        await store.AddRolloutAsync(Rollout("r1", "1.1.0",
            Device("fast", DeviceRolloutStatus.Succeeded, "1.0.2", TimeSpan.FromHours(23)),
            Device("day", DeviceRolloutStatus.Succeeded, "1.0.0", TimeSpan.FromHours(24)),
            Device("slow", DeviceRolloutStatus.Succeeded, "1.0.1", TimeSpan.FromDays(3)),
            Device("late", DeviceRolloutStatus.Succeeded, "1.0.1", TimeSpan.FromDays(8)),
            Device("back", DeviceRolloutStatus.RolledBack, "1.0.1", TimeSpan.FromHours(1)),
            Device("never", DeviceRolloutStatus.Succeeded, "0.9.0", TimeSpan.FromHours(1)),
            Device("unknown", DeviceRolloutStatus.Succeeded, null, TimeSpan.FromHours(1))), []);
        // A rollout to an affected release patches nothing; a second patch of "late" counts once, at its earliest.
        await store.AddRolloutAsync(Rollout("r2", "1.0.5", Device("x", DeviceRolloutStatus.Succeeded, "1.0.0", TimeSpan.FromHours(1))), []);
        await store.AddRolloutAsync(Rollout("r3", "1.2.0", Device("late", DeviceRolloutStatus.Succeeded, "1.0.1", TimeSpan.FromDays(9))), []);

        var report = await patching.GetComplianceReportAsync();
        var advisory = Assert.Single(report.Advisories);
        Assert.Equal(("OSV-T-1", "HIGH", "1.1.0"), (advisory.Id, advisory.Severity, advisory.FixedRelease));
        Assert.Equal((4, 2, 3), (advisory.Patched, advisory.PatchedWithin24Hours, advisory.PatchedWithin7Days));
        Assert.Equal(T0 + TimeSpan.FromDays(30), report.GeneratedAt);

        var json = JsonNode.Parse(report.ToJson())!;
        Assert.Equal("2026-12-31T00:00:00.000Z", json["generatedAt"]!.GetValue<string>());
        Assert.Equal(2, json["advisories"]![0]!["patchedWithin24h"]!.GetValue<int>());
        Assert.Null(json["minimumAllowedVersion"]);
        Assert.Contains("OSV-T-1   HIGH      1.1.0", report.ToTable(), StringComparison.Ordinal);
    }
}
