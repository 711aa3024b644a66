using IoTMastery.Sdk.TestSupport;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Local.Tests.Services;

public sealed class LocalStateServiceTests
{
    [Fact]
    public async Task Desired_changes_merge_bump_the_version_and_publish_retained()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1" });
        Assert.Equal(0, (await f.State.GetAsync("d1")).DesiredVersion);

        await f.State.UpdateDesiredAsync("d1", new JsonObject { ["led"] = "on", ["rate"] = 5 });
        var state = await f.State.UpdateDesiredAsync("d1", new JsonObject { ["led"] = null, ["mode"] = new JsonObject { ["x"] = 1 } }, expectedVersion: 1);

        Assert.Equal(2, state.DesiredVersion);
        Assert.Equal("""{"rate":5,"mode":{"x":1}}""", (await f.State.GetAsync("d1")).Desired.ToJsonString());
        var last = f.Bus.Published[^1];
        Assert.Equal((LocalTopics.DesiredState("d1"), true), (last.Topic, last.Retain));
        Assert.Equal("""{"version":2,"desired":{"rate":5,"mode":{"x":1}}}""", last.Payload);
    }

    [Fact]
    public async Task A_stale_expected_version_fails_with_both_versions_and_changes_nothing()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1" });
        await f.State.UpdateDesiredAsync("d1", new JsonObject { ["a"] = 1 });
        var published = f.Bus.Published.Count;

        var ex = await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () => f.State.UpdateDesiredAsync("d1", new JsonObject { ["a"] = 2 }, expectedVersion: 0));
        Assert.Equal(1L, ex.CurrentVersion);
        Assert.Equal(1, (await f.State.GetAsync("d1")).Desired["a"]!.GetValue<int>());
        Assert.Equal(published, f.Bus.Published.Count);
    }

    [Fact]
    public async Task Concurrent_desired_updates_all_apply_and_the_last_publish_is_the_latest_version()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1" });
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => f.State.UpdateDesiredAsync("d1", new JsonObject { [$"k{i}"] = i }))));
        var state = await f.State.GetAsync("d1");
        Assert.Equal(20, state.DesiredVersion);
        Assert.Equal(20, state.Desired.Count);
        Assert.Equal(20, f.Bus.LastDesired("d1")!["version"]!.GetValue<long>());
    }

    [Fact]
    public async Task Reported_patches_merge_bump_the_version_and_reach_listeners()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1" });
        var seen = new List<(string, long)>();
        f.State.AddReportedListener((id, _, state, _) => { seen.Add((id, state.ReportedVersion)); return Task.CompletedTask; });

        await f.State.ApplyReportedAsync("d1", new JsonObject { ["temp"] = 20, ["fw"] = new JsonObject { ["v"] = "1" } }, default);
        await f.State.ApplyReportedAsync("d1", new JsonObject { ["temp"] = null }, default);

        var state = await f.State.GetAsync("d1");
        Assert.Equal((2L, """{"fw":{"v":"1"}}"""), (state.ReportedVersion, state.Reported.ToJsonString()));
        Assert.Equal([("d1", 1L), ("d1", 2L)], seen);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => f.State.ApplyReportedAsync("ghost", new JsonObject(), default));
    }

    [Fact]
    public async Task A_document_that_would_grow_past_the_limit_is_refused()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1" });
        var half = new string('x', LocalStateService.MaxDocumentBytes / 2);
        await f.State.UpdateDesiredAsync("d1", new JsonObject { ["a"] = half });
        await IoTAssert.ThrowsAsync(IoTErrorKind.PayloadTooLarge, () => f.State.UpdateDesiredAsync("d1", new JsonObject { ["b"] = half }));
        Assert.Equal(1, (await f.State.GetAsync("d1")).DesiredVersion);
    }
}
