using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Data.Sqlite;

namespace IoTMastery.Sdk.Local.Tests.Services;

/// <summary>
/// Issue #12 item 6: a document nested deeper than the reader accepts used to be committed (the writer allows 1000 levels,
/// the reader 64) and then bricked the device and the provider's start. One depth limit now guards every write, and a
/// stored document that cannot be read is reported for its device only.
/// </summary>
public sealed class StateDocumentLimitsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A JSON object nested <paramref name="depth"/> levels: {"n":{"n":…{"leaf":1}…}}.</summary>
    internal static JsonObject Nested(int depth)
    {
        var root = new JsonObject { ["leaf"] = 1 };
        for (var i = 1; i < depth; i++) root = new JsonObject { ["n"] = root };
        return root;
    }

    [Theory]
    [InlineData(LocalStateService.MaxDocumentDepth + 1)]
    [InlineData(65)]
    [InlineData(100)]
    [InlineData(999)]
    public async Task A_desired_or_reported_patch_deeper_than_the_limit_is_refused_before_anything_is_written(int depth)
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1" });

        var desired = await Assert.ThrowsAsync<ArgumentException>(() => f.State.UpdateDesiredAsync("d1", Nested(depth)));
        var reported = await Assert.ThrowsAsync<ArgumentException>(() => f.State.ApplyReportedAsync("d1", Nested(depth), default));

        Assert.Contains($"{LocalStateService.MaxDocumentDepth} levels", desired.Message, StringComparison.Ordinal);
        Assert.Contains($"{LocalStateService.MaxDocumentDepth} levels", reported.Message, StringComparison.Ordinal);
        var state = await f.State.GetAsync("d1");
        Assert.Equal((0L, 0L), (state.DesiredVersion, state.ReportedVersion));
        Assert.Empty(f.Bus.Published);
        // The device stays usable.
        await f.State.UpdateDesiredAsync("d1", new JsonObject { ["ok"] = true });
        Assert.Equal(1, (await f.State.GetAsync("d1")).DesiredVersion);
    }

    [Fact]
    public async Task A_patch_at_the_limit_is_stored_read_back_and_its_retained_message_parses_on_the_device()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1" });
        var deepest = Nested(LocalStateService.MaxDocumentDepth);

        await f.State.UpdateDesiredAsync("d1", deepest);
        await f.State.ApplyReportedAsync("d1", Nested(LocalStateService.MaxDocumentDepth), default);

        var state = await f.State.GetAsync("d1");
        Assert.True(JsonNode.DeepEquals(deepest, state.Desired));
        Assert.Equal(1, state.ReportedVersion);
        // The retained message wraps the document in {"version","desired"}: the device must still read it.
        var change = LocalDeviceConnection.ParseDesired(System.Text.Encoding.UTF8.GetBytes(f.Bus.Published[^1].Payload));
        Assert.NotNull(change);
        Assert.True(JsonNode.DeepEquals(deepest, change.Desired));
    }

    [Fact]
    public async Task A_patch_that_is_not_serializable_json_is_an_argument_exception()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "d1" });
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => f.State.UpdateDesiredAsync("d1", new JsonObject { ["x"] = double.NaN }));
        Assert.Equal("patch", ex.ParamName);
        ex = await Assert.ThrowsAsync<ArgumentException>(() => f.State.UpdateDesiredAsync("d1", new JsonObject { ["x"] = "lone \uD800 surrogate" }));
        Assert.Equal("patch", ex.ParamName);
        Assert.Equal(0, (await f.State.GetAsync("d1")).DesiredVersion);
    }

    [Fact]
    public async Task A_stored_document_that_cannot_be_read_never_stops_the_provider_and_only_its_device_reports_it()
    {
        var dir = Directory.CreateTempSubdirectory("iotmastery-unreadable-");
        try
        {
            var options = new LocalIoTOptions { DatabasePath = Path.Combine(dir.FullName, "fleet.db") };
            await using (var first = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout))
            {
                await first.Registry.RegisterAsync(new DeviceRegistration { Id = "bricked" }).WaitAsync(Timeout);
                await first.Registry.RegisterAsync(new DeviceRegistration { Id = "healthy" }).WaitAsync(Timeout);
                await first.State.UpdateDesiredAsync("healthy", new JsonObject { ["rate"] = 5 }).WaitAsync(Timeout);
            }
            // What the old writer committed: a desired document 100 levels deep (it allowed 1000, the reader 64).
            await using (var raw = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = options.DatabasePath, Pooling = false }.ToString()))
            {
                await raw.OpenAsync();
                await using var update = raw.CreateCommand();
                update.CommandText = "UPDATE device_state SET desired = $doc, desired_version = 1 WHERE device_id = 'bricked'";
                update.Parameters.AddWithValue("$doc", Nested(100).ToJsonString());
                Assert.Equal(1, await update.ExecuteNonQueryAsync());
            }

            var logs = new CapturingLoggerFactory();
            await using var provider = await LocalIoTProvider.StartAsync(options, loggerFactory: logs).WaitAsync(Timeout);

            var read = await Assert.ThrowsAsync<IoTException>(() => provider.State.GetAsync("bricked").WaitAsync(Timeout));
            Assert.Equal("StateUnreadable", read.ErrorCode);
            Assert.False(read.IsTransient);
            var update2 = await Assert.ThrowsAsync<IoTException>(() => provider.State.UpdateDesiredAsync("bricked", new JsonObject { ["a"] = 1 }).WaitAsync(Timeout));
            Assert.Equal("StateUnreadable", update2.ErrorCode);
            Assert.Contains(logs.Lines, l => l.Contains("bricked", StringComparison.Ordinal) && l.Contains("unreadable", StringComparison.OrdinalIgnoreCase));
            // The rest keeps working: the other device's state, the registry, and the bricked device itself can be deleted.
            Assert.Equal(5, (await provider.State.GetAsync("healthy").WaitAsync(Timeout)).Desired["rate"]!.GetValue<int>());
            await provider.State.UpdateDesiredAsync("healthy", new JsonObject { ["rate"] = 6 }).WaitAsync(Timeout);
            await provider.Registry.DeleteAsync("bricked").WaitAsync(Timeout);
            await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => provider.State.GetAsync("bricked").WaitAsync(Timeout));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_device_with_unreadable_state_does_not_stop_a_rollout_of_the_others()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Firmware.CreateReleaseAsync(new FirmwareRelease { Version = "2.0.0", Uri = new Uri("https://fw.example.test/2.0.0.bin"), Sha256 = new string('a', 64), SizeBytes = 1000 });
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "bricked" });
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "healthy" });
        // What the old writer committed: documents 100 levels deep.
        await f.Store.WriteAsync((c, tx, ct) => LocalStore.ExecuteAsync(c, tx, "UPDATE device_state SET desired = $doc, reported = $doc WHERE device_id = 'bricked'", ct,
            ("$doc", Nested(100).ToJsonString())), default);

        var ex = await Assert.ThrowsAsync<IoTException>(() => f.State.ApplyReportedAsync("bricked", new JsonObject { ["a"] = 1 }, default));
        Assert.Equal("StateUnreadable", ex.ErrorCode);
        var rollout = (await f.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["bricked", "healthy"], WaveSizes = [2] })).Value;

        Assert.Equal(RolloutStatus.InProgress, rollout.Status);
        Assert.NotNull((await f.State.GetAsync("healthy")).Desired["firmware"]);
    }

    [Fact]
    public async Task A_command_payload_too_deep_or_too_big_is_an_argument_exception_before_any_io()
    {
        await using var host = await BrokerTestHost.StartAsync();
        var deep = await Assert.ThrowsAsync<ArgumentException>(() =>
            host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "set", Payload = Nested(100) }));
        Assert.Contains($"{LocalStateService.MaxDocumentDepth} levels", deep.Message, StringComparison.Ordinal);
        var big = await Assert.ThrowsAsync<ArgumentException>(() =>
            host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "set", Payload = new JsonObject { ["blob"] = new string('x', LocalCommandService.MaxPayloadBytes) } }));
        Assert.Contains($"{LocalCommandService.MaxPayloadBytes} bytes", big.Message, StringComparison.Ordinal);
        Assert.Equal(0, host.Registry.Gets);
    }

    [Fact]
    public async Task A_command_reply_too_deep_for_the_fleet_to_read_is_answered_500_instead_of_timing_out()
    {
        await using var host = await BrokerTestHost.StartAsync();
        var device = host.CreateDevice("dev-1", host.AddDevice("dev-1"));
        device.SetCommandHandler((_, _) => ValueTask.FromResult(new CommandResponse(200, Nested(100))));
        await device.ConnectAsync().WaitAsync(Timeout);

        var response = await host.Commands.InvokeAsync("dev-1", new DeviceCommand { Name = "dump", Timeout = TimeSpan.FromSeconds(20) }).WaitAsync(Timeout);

        Assert.Equal(500, response.Status);
        Assert.Contains($"{LocalStateService.MaxDocumentDepth} levels", (string?)response.Payload?["error"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_device_reporting_state_too_deep_or_too_big_gets_an_argument_exception_before_the_network()
    {
        await using var host = await BrokerTestHost.StartAsync();
        var credential = host.AddDevice("dev-1");
        var device = host.CreateDevice("dev-1", credential); // never connected: a check after the network would fail otherwise
        var deep = await Assert.ThrowsAsync<ArgumentException>(() => device.ReportStateAsync(Nested(100)));
        Assert.Contains($"{LocalStateService.MaxDocumentDepth} levels", deep.Message, StringComparison.Ordinal);
        var big = await Assert.ThrowsAsync<ArgumentException>(() => device.ReportStateAsync(new JsonObject { ["blob"] = new string('x', LocalStateService.MaxDocumentBytes) }));
        Assert.Contains($"{LocalStateService.MaxDocumentBytes} bytes", big.Message, StringComparison.Ordinal);
    }
}
