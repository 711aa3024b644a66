using IoTMastery.Sdk.TestSupport;
using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Providers;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// Security patching is the same on every provider: an OSV advisory is imported into the provider's own firmware store, the
/// compliance report (computed from what real devices running the core agent report) lists the affected devices, an urgent
/// rollout of the fixed release patches them while refusing a downgrade, one device fails its health check and is rolled
/// back, and the report then shows who is still affected and how fast the others were patched.
/// </summary>
public abstract class PatchingContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    private const string Osv = """
        {
          "schema_version": "1.6.0",
          "id": "GHSA-ct01-patch-0001",
          "modified": "2026-12-01T00:00:00Z",
          "summary": "Stack overflow in the keep-alive parser",
          "severity": [{ "type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" }],
          "affected": [{ "package": { "ecosystem": "Firmware", "name": "contract-device" },
                         "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "1.4.0" }, { "fixed": "1.4.3" }] }] }],
          "database_specific": { "severity": "CRITICAL" }
        }
        """;

    [Fact]
    public async Task An_advisory_is_reported_patched_urgently_with_one_rollback_and_the_report_follows()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        await fleet.ReleaseAsync("1.4.1");
        await fleet.ReleaseAsync("1.4.3");
        var a = await fleet.DeviceAsync("1.4.1");
        var b = await fleet.DeviceAsync("1.4.1", unhealthy: "1.4.3");
        var c = await fleet.DeviceAsync("1.4.2");
        var newer = await fleet.DeviceAsync("2.0.0");
        // Registered but never connected: it has never reported a version.
        var silent = ProviderFixture.NewDeviceId("fw");
        await fleet.Provider.Registry.RegisterAsync(new DeviceRegistration { Id = silent, Credential = Fixture.DeviceCredential }, Ct);
        string[] ours = [a.Id, b.Id, c.Id, newer.Id, silent];

        // A second opener of the provider's store file, as an operator's tool would be.
        using var store = new SqliteFirmwareStore(Fixture.FirmwareStoreFile(fleet.Directory.FullName));
        var patching = new SecurityPatching(fleet.Provider, store);
        var imported = Assert.Single(await patching.ImportOsvAsync(new MemoryStream(Encoding.UTF8.GetBytes(Osv)), Ct));
        Assert.Equal("1.4.3", (await patching.FindFixedReleaseAsync(imported, Ct))?.Version);

        var before = await patching.GetComplianceReportAsync(cancellationToken: Ct);
        var advisory = Assert.Single(before.Advisories, x => x.Id == imported.Id);
        Assert.Equal(("CRITICAL", "1.4.3", 0), (advisory.Severity, advisory.FixedRelease, advisory.Patched));
        Assert.Equal(new[] { a.Id, b.Id, c.Id }.Order(StringComparer.Ordinal), advisory.AffectedDevices.Intersect(ours).Order(StringComparer.Ordinal));
        Assert.Contains(silent, before.NotReportingVersion);
        Assert.True(before.DevicesByVersion.GetValueOrDefault("1.4.1") >= 2);
        Assert.Equal("stable", before.ReleaseChannels["1.4.1"]);

        // Patch the affected devices and one that runs newer firmware: the plan refuses to downgrade it.
        // In this order, so the canary wave is the healthy device a and the failing b lands in the second wave with c.
        var started = await fleet.Provider.Firmware.StartRolloutAsync(RolloutPlan.Urgent("1.4.3", [a.Id, c.Id, b.Id, newer.Id]), Ct);
        var done = await fleet.FinishAsync(started.Id);
        var byId = done.Devices.ToDictionary(d => d.DeviceId);
        Assert.Equal(DeviceRolloutStatus.Succeeded, byId[a.Id].Status);
        Assert.Equal(DeviceRolloutStatus.Succeeded, byId[c.Id].Status);
        Assert.Equal(DeviceRolloutStatus.RolledBack, byId[b.Id].Status);
        Assert.Equal(DeviceRolloutStatus.Skipped, byId[newer.Id].Status);
        Assert.Contains("downgrade", byId[newer.Id].Error, StringComparison.Ordinal);
        Assert.Equal("2.0.0", newer.RunningVersion);
        await fleet.EventuallyAsync(async () => (await fleet.ReportedAsync(b.Id))?.Version == "1.4.1" && (await fleet.ReportedAsync(a.Id))?.Version == "1.4.3",
            "the patched and the rolled-back device to report what they run");

        var after = await patching.GetComplianceReportAsync(cancellationToken: Ct);
        var now = Assert.Single(after.Advisories, x => x.Id == imported.Id);
        Assert.Equal([b.Id], now.AffectedDevices.Intersect(ours));
        Assert.Equal((2, 2, 2), (now.Patched, now.PatchedWithin24Hours, now.PatchedWithin7Days));
        Assert.True(after.DevicesByVersion.GetValueOrDefault("1.4.3") >= 2);
        Assert.Equal("stable", after.ReleaseChannels["1.4.3"]);

        // The JSON form is the documented one and the table names the advisory.
        var json = JsonNode.Parse(after.ToJson())!.AsObject();
        var entry = json["advisories"]!.AsArray().Single(x => x!["id"]!.GetValue<string>() == imported.Id)!;
        Assert.Equal(("1.4.3", 2), (entry["fixedRelease"]!.GetValue<string>(), entry["patchedWithin24h"]!.GetValue<int>()));
        Assert.Contains(b.Id, entry["affectedDevices"]!.AsArray().Select(x => x!.GetValue<string>()));
        Assert.Contains("GHSA-ct01-patch-0001  CRITICAL  1.4.3", after.ToTable(), StringComparison.Ordinal);
    }
}

/// <summary>The fleet's minimum allowed version: devices below it are flagged in the report, and disabled only when the operator asks.</summary>
public abstract class MinimumVersionContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task Devices_below_the_minimum_are_flagged_and_disabled_only_on_request()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        var old = await fleet.DeviceAsync("1.2.0");
        var current = await fleet.DeviceAsync("1.6.0-rc.1+build.5");
        var silent = ProviderFixture.NewDeviceId("fw");
        await fleet.Provider.Registry.RegisterAsync(new DeviceRegistration { Id = silent, Credential = Fixture.DeviceCredential }, Ct);
        using var store = new SqliteFirmwareStore(Fixture.FirmwareStoreFile(fleet.Directory.FullName));
        var patching = new SecurityPatching(fleet.Provider, store);
        const string minimum = "1.5.0";

        var report = await patching.GetComplianceReportAsync(minimum, Ct);
        Assert.Equal("1.5.0", report.MinimumAllowedVersion);
        Assert.Contains(old.Id, report.BelowMinimumVersion);
        Assert.DoesNotContain(current.Id, report.BelowMinimumVersion);
        Assert.DoesNotContain(silent, report.BelowMinimumVersion); // unknown is not "below": it is listed as not reporting
        // Flagging changes nothing in the registry.
        Assert.True((await fleet.Provider.Registry.GetAsync(old.Id, Ct)).Enabled);

        // Scoped to this test's devices: the cloud peers are shared with other tests' devices, which must stay as they are.
        string[] ours = [old.Id, current.Id, silent];
        await Assert.ThrowsAsync<ArgumentException>(() => patching.DisableDevicesBelowMinimumAsync(minimum, ["bad id!"], Ct));
        var disabled = await patching.DisableDevicesBelowMinimumAsync(minimum, ours, Ct);
        Assert.Equal([old.Id], disabled);
        Assert.False((await fleet.Provider.Registry.GetAsync(old.Id, Ct)).Enabled);
        Assert.True((await fleet.Provider.Registry.GetAsync(current.Id, Ct)).Enabled);
        Assert.True((await fleet.Provider.Registry.GetAsync(silent, Ct)).Enabled);
        // Again: nothing left to disable.
        Assert.Empty(await patching.DisableDevicesBelowMinimumAsync(minimum, ours, Ct));

        // A minimum that is empty or not semver is refused by the parameter's name before any device is read or changed.
        await Assert.ThrowsAsync<ArgumentNullException>(() => patching.DisableDevicesBelowMinimumAsync(null!, ours, Ct));
        foreach (var bad in new[] { "1.5", "", "v1.5.0" })
        {
            Assert.Equal("minimumAllowedVersion", (await Assert.ThrowsAsync<ArgumentException>(() => patching.GetComplianceReportAsync(bad, Ct))).ParamName);
            Assert.Equal("minimumAllowedVersion", (await Assert.ThrowsAsync<ArgumentException>(() => patching.DisableDevicesBelowMinimumAsync(bad, ours, Ct))).ParamName);
            Assert.Equal("minimumAllowedVersion", (await Assert.ThrowsAsync<ArgumentException>(() => patching.RestrictDevicesBelowMinimumAsync(bad, ours, Ct))).ParamName);
        }
        Assert.True((await fleet.Provider.Registry.GetAsync(current.Id, Ct)).Enabled);
    }

    [Fact]
    public async Task Devices_below_the_minimum_are_restricted_to_firmware_traffic_until_patched_or_refused_where_the_provider_cannot()
    {
        await using var fleet = await FirmwareFleet.StartAsync(Fixture, Ct);
        await fleet.ReleaseAsync("1.5.0");
        var old = await fleet.DeviceAsync("1.2.0");
        var current = await fleet.DeviceAsync("1.6.0");
        using var store = new SqliteFirmwareStore(Fixture.FirmwareStoreFile(fleet.Directory.FullName));
        var patching = new SecurityPatching(fleet.Provider, store);
        const string minimum = "1.5.0";
        string[] ours = [old.Id, current.Id];

        if (!fleet.Provider.Capabilities.FirmwareOnlyRestriction)
        {
            // Refused before anything is read or changed: the operator chooses disabling explicitly instead.
            var refused = await Assert.ThrowsAsync<NotSupportedException>(() => patching.RestrictDevicesBelowMinimumAsync(minimum, ours, Ct));
            Assert.Contains("DisableDevicesBelowMinimumAsync", refused.Message, StringComparison.Ordinal);
            Assert.Empty(await patching.ListRestrictedDevicesAsync(Ct));
            Assert.True((await fleet.Provider.Registry.GetAsync(old.Id, Ct)).Enabled);
            await SendTelemetryAsync(old);
            return;
        }

        await Assert.ThrowsAsync<ArgumentException>(() => patching.RestrictDevicesBelowMinimumAsync(minimum, ["bad id!"], Ct));
        Assert.Equal([old.Id], await patching.RestrictDevicesBelowMinimumAsync(minimum, ours, Ct));
        Assert.Equal("1.5.0", (await patching.ListRestrictedDevicesAsync(Ct))[old.Id]);
        // Restricted, not disabled: it stays enabled and connected so the fix can reach it.
        Assert.True((await fleet.Provider.Registry.GetAsync(old.Id, Ct)).Enabled);

        // Its telemetry, its other reported state and commands to it are refused; the compliant device is untouched.
        var undelivered = await Assert.ThrowsAsync<IoTException>(() => SendTelemetryAsync(old));
        IoTAssert.Is(IoTErrorKind.Authorization, undelivered.InnerException);
        await IoTAssert.ThrowsAsync(IoTErrorKind.Authorization, () => old.Connection.ReportStateAsync(new JsonObject { ["mood"] = "restless" }, Ct));
        var command = await Assert.ThrowsAsync<IoTException>(() => fleet.Provider.Commands.InvokeAsync(old.Id, new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(5) }, Ct));
        Assert.Equal("DeviceRestricted", command.ErrorCode);
        await SendTelemetryAsync(current);
        Assert.False((await fleet.Provider.State.GetAsync(old.Id, Ct)).Reported.ContainsKey("mood"));

        // Its firmware traffic still flows: an urgent rollout of the fix patches it, and the report of 1.5.0 lifts the restriction.
        var started = await fleet.Provider.Firmware.StartRolloutAsync(RolloutPlan.Urgent("1.5.0", [old.Id]), Ct);
        var done = await fleet.FinishAsync(started.Id);
        Assert.Equal(DeviceRolloutStatus.Succeeded, Assert.Single(done.Devices).Status);
        await fleet.EventuallyAsync(async () => !(await patching.ListRestrictedDevicesAsync(Ct)).ContainsKey(old.Id), $"{old.Id}'s restriction to lift");
        await SendTelemetryAsync(old);
        await old.Connection.ReportStateAsync(new JsonObject { ["mood"] = "patched" }, Ct);
        Assert.Equal("patched", (await fleet.Provider.State.GetAsync(old.Id, Ct)).Reported["mood"]?.GetValue<string>());
        // Nothing left below the minimum.
        Assert.Empty(await patching.RestrictDevicesBelowMinimumAsync(minimum, ours, Ct));
    }

    private async Task SendTelemetryAsync(FleetDevice device)
    {
        await device.Connection.SendTelemetryAsync(new TelemetryRecord(device.Id, "level", 1, DateTimeOffset.UtcNow), Ct);
        await device.Connection.FlushAsync(Ct);
    }
}
