using IoTMastery.Sdk.TestSupport;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>The neutral API and the hub-specific client against the double.</summary>
[Collection(DoubleCollection.Name)]
public sealed class ProviderAgainstDoubleTests
{
    private static readonly CredentialRequest SasKey = new() { Kind = CredentialKind.SymmetricKey };

    [Fact]
    public async Task Registry_registers_reads_pages_updates_disables_and_deletes()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registry = provider.Registry;
        for (var i = 1; i <= 5; i++)
            await registry.RegisterAsync(new DeviceRegistration { Id = $"d{i}", Attributes = new Dictionary<string, string> { ["site"] = i % 2 == 0 ? "a" : "b" } });
        await IoTAssert.ThrowsAsync(IoTErrorKind.AlreadyExists, () => registry.RegisterAsync(new DeviceRegistration { Id = "d1" }));

        var device = await registry.GetAsync("d2");
        Assert.Equal("a", device.Attributes["site"]);
        Assert.True(device.Enabled);
        Assert.Equal(["sas-primary", "sas-secondary"], device.Credentials.Select(c => c.Id));

        var first = await registry.ListAsync(new DeviceQuery { PageSize = 2 }).AsPages().FirstAsync();
        Assert.Equal(2, first.Items.Count);
        Assert.NotNull(first.ContinuationToken);
        Assert.Equal(5, await registry.ListAsync(new DeviceQuery { PageSize = 2 }).CountAsync());
        Assert.Equal(["d2", "d4"], await registry.ListAsync(new DeviceQuery { AttributeName = "site", AttributeValue = "a" }).Select(d => d.Id).ToListAsync());

        var updated = await registry.UpdateAsync("d2", new Dictionary<string, string?> { ["site"] = "c" }, expectedVersion: device.Version);
        Assert.Equal("c", updated.Attributes["site"]);
        var stale = await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () => registry.UpdateAsync("d2", new Dictionary<string, string?> { ["site"] = "d" }, expectedVersion: device.Version));
        Assert.Equal(updated.Version, stale.CurrentVersion);
        var removed = await registry.UpdateAsync("d2", new Dictionary<string, string?> { ["site"] = null });
        Assert.False(removed.Attributes.ContainsKey("site"));

        Assert.False((await registry.DisableAsync("d3")).Enabled);
        Assert.Equal(1, (await provider.Hub.GetDeviceStatisticsAsync()).Disabled);

        await registry.DeleteAsync("d5");
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => registry.GetAsync("d5"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => registry.DeleteAsync("d5"));
    }

    [Fact]
    public async Task Bad_input_fails_before_any_request()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        await Assert.ThrowsAsync<ArgumentException>(() => provider.Registry.GetAsync("bad#id"));
        await Assert.ThrowsAsync<ArgumentException>(() => provider.Registry.RegisterAsync(new DeviceRegistration { Id = "ok", Attributes = new Dictionary<string, string> { ["a.b"] = "x" } }));
        await Assert.ThrowsAsync<ArgumentException>(() => provider.State.UpdateDesiredAsync("ok", new JsonObject { ["$bad"] = 1 }));
        await Assert.ThrowsAsync<ArgumentException>(() => provider.Commands.InvokeAsync("ok", new DeviceCommand { Name = "no spaces" }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => provider.Hub.InvokeMethodAsync("ok", "m", null, TimeSpan.FromSeconds(1), TimeSpan.Zero));
        await Assert.ThrowsAsync<NotSupportedException>(() => provider.Registry.RegisterAsync(new DeviceRegistration { Id = "ok", Credential = new CredentialRequest { Kind = CredentialKind.PublicKey } }));
        Assert.Empty(hub.Captured);
    }

    [Fact]
    public async Task Sas_device_connects_disabled_device_is_refused_and_rotated_key_replaces_the_old()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1", Credential = SasKey });
        Assert.Equal(CredentialKind.SymmetricKey, registered.Credential!.Info.Kind);
        Assert.DoesNotContain(registered.Credential.SymmetricKey!, registered.Credential.ToString(), StringComparison.Ordinal);

        await using (var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = registered.Credential }))
        {
            await device.ConnectAsync();
            Assert.True(device.IsConnected);
        }

        var rotated = await provider.Registry.RotateCredentialAsync("dev1", "sas-primary");
        var stale = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = registered.Credential });
        await using (stale)
        {
            var refused = await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => stale.ConnectAsync());
            Assert.DoesNotContain(registered.Credential.SymmetricKey!, refused.Message, StringComparison.Ordinal);
        }
        await using (var fresh = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = rotated }))
            await fresh.ConnectAsync();

        await provider.Registry.DisableAsync("dev1");
        await using var disabled = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = rotated });
        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => disabled.ConnectAsync());
    }

    [Fact]
    public async Task Self_signed_x509_registration_sends_the_sha256_thumbprint()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var result = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "cam1", Credential = CredentialRequest.X509 });
        using var certificate = result.Credential!.ToCertificate();
        var thumbprint = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.RawData));
        Assert.Equal(thumbprint, result.Credential.Id);
        var identity = await provider.Hub.GetDeviceIdentityAsync("cam1");
        Assert.Equal("selfSigned", identity["authentication"]!["type"]!.GetValue<string>());
        Assert.Equal(thumbprint, identity["authentication"]!["x509Thumbprint"]!["primaryThumbprint"]!.GetValue<string>());
        var second = await provider.Registry.IssueCredentialAsync("cam1", CredentialRequest.X509);
        Assert.Equal(2, (await provider.Registry.GetAsync("cam1")).Credentials.Count);
        await provider.Registry.RevokeCredentialAsync("cam1", result.Credential.Id);
        Assert.Equal([second.Id], (await provider.Registry.GetAsync("cam1")).Credentials.Select(c => c.Id));
    }

    [Fact]
    public async Task Ca_mode_registers_certificate_authority_devices_that_connect_with_issued_certificates()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub, o => o.CertificateAuthority = hub.VerifiedCa);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "cam2", Credential = CredentialRequest.X509 });
        Assert.Equal("certificateAuthority", (await provider.Hub.GetDeviceIdentityAsync("cam2"))["authentication"]!["type"]!.GetValue<string>());
        Assert.Empty(registered.Device.Credentials); // nothing per device to list or revoke (RegistryContractTests)
        await using (var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "cam2", Credential = registered.Credential! }))
            await device.ConnectAsync();
        // A certificate from another CA is refused.
        using var other = LocalCertificateAuthority.Create("not verified");
        await using var impostor = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "cam2", Credential = other.IssueDeviceCertificate("cam2") });
        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => impostor.ConnectAsync());
    }

    [Fact]
    public async Task Desired_state_with_versions_reaches_the_device_and_reports_come_back()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1", Credential = SasKey });
        await provider.State.UpdateDesiredAsync("dev1", new JsonObject { ["mode"] = "eco" });
        var seen = new List<(JsonObject Desired, long Version)>();
        var three = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = registered.Credential! });
        device.SetDesiredStateHandler((document, version, _) =>
        {
            lock (seen) seen.Add((document, version));
            if (version == 3) three.TrySetResult();
            return ValueTask.CompletedTask;
        });
        await device.ConnectAsync();
        var state = await provider.State.GetAsync("dev1");
        await provider.State.UpdateDesiredAsync("dev1", new JsonObject { ["interval"] = 5 }, expectedVersion: state.DesiredVersion);
        await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () => provider.State.UpdateDesiredAsync("dev1", new JsonObject { ["interval"] = 6 }, expectedVersion: state.DesiredVersion));
        await three.Task.WaitAsync(TimeSpan.FromSeconds(10));
        lock (seen)
        {
            Assert.Equal(seen.Select(s => s.Version).Order(), seen.Select(s => s.Version));
            Assert.Equal("eco", seen[^1].Desired["mode"]!.GetValue<string>());
            Assert.Equal(5, seen[^1].Desired["interval"]!.GetValue<int>());
        }
        await device.ReportStateAsync(new JsonObject { ["battery"] = 97 });
        var after = await provider.State.GetAsync("dev1");
        Assert.Equal(97, after.Reported["battery"]!.GetValue<int>());
        Assert.Equal(2, after.ReportedVersion);
        Assert.False(after.Desired.ContainsKey("$version"));
    }

    [Fact]
    public async Task Stale_desired_patches_are_ignored_and_gaps_are_filled_from_the_hub()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1", Credential = SasKey });
        var seen = new System.Collections.Concurrent.ConcurrentQueue<(JsonObject Desired, long Version)>();
        await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = registered.Credential! });
        device.SetDesiredStateHandler((document, version, _) => { seen.Enqueue((document, version)); return ValueTask.CompletedTask; });
        await device.ConnectAsync();
        await provider.State.UpdateDesiredAsync("dev1", new JsonObject { ["a"] = 1 });
        await WaitForAsync(() => seen.Any(c => c.Version == 2));
        await hub.PublishToDeviceAsync("dev1", "$iothub/twin/PATCH/properties/desired/?$version=2", """{"a":"replayed","$version":2}""");
        await hub.PublishToDeviceAsync("dev1", "$iothub/twin/PATCH/properties/desired/?$version=1", """{"a":"old","$version":1}""");
        // A jump past the next version means a patch was missed: the connection re-reads the twin instead of applying it.
        await hub.PublishToDeviceAsync("dev1", "$iothub/twin/PATCH/properties/desired/?$version=9", """{"c":"unseen","$version":9}""");
        await provider.State.UpdateDesiredAsync("dev1", new JsonObject { ["b"] = 2 });
        await WaitForAsync(() => seen.Any(c => c.Version == 3));
        await Task.Delay(200);
        Assert.Equal(seen.Select(c => c.Version).Order(), seen.Select(c => c.Version));
        Assert.DoesNotContain(seen, c => c.Desired.ToJsonString().Contains("replayed", StringComparison.Ordinal) || c.Desired.ToJsonString().Contains("old", StringComparison.Ordinal) || c.Desired.ContainsKey("c"));
        var last = seen.Last();
        Assert.Equal(1, last.Desired["a"]!.GetValue<int>());
        Assert.Equal(2, last.Desired["b"]!.GetValue<int>());
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Commands_map_offline_and_missing_devices_and_unknown_handlers()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1", Credential = SasKey });
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => provider.Commands.InvokeAsync("nobody", new DeviceCommand { Name = "reboot" }));
        var offline = await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceOffline, () => provider.Commands.InvokeAsync("dev1", new DeviceCommand { Name = "reboot" }));
        Assert.Equal("404103", offline.ErrorCode);
        await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = registered.Credential! });
        await device.ConnectAsync();
        var reply = await provider.Commands.InvokeAsync("dev1", new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(5) });
        Assert.Equal(501, reply.Status);
        device.SetCommandHandler((_, ct) => new ValueTask<CommandResponse>(Task.Delay(TimeSpan.FromSeconds(20), ct).ContinueWith(_ => new CommandResponse(200), ct)));
        var before = hub.Captured.Count(c => c.Path.EndsWith("/methods", StringComparison.Ordinal));
        await IoTAssert.ThrowsAsync(IoTErrorKind.CommandTimeout, () => provider.Commands.InvokeAsync("dev1", new DeviceCommand { Name = "slow", Timeout = TimeSpan.FromSeconds(5) }));
        // A method that timed out may have run on the device: it is never sent again.
        Assert.Equal(before + 1, hub.Captured.Count(c => c.Path.EndsWith("/methods", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Transient_failures_are_retried_within_the_bound_and_then_surface()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub, o =>
        {
            o.Transport.MaxRetries = 2;
            o.Transport.RetryBaseDelay = TimeSpan.FromMilliseconds(5);
            o.Transport.RetryMaxDelay = TimeSpan.FromMilliseconds(20);
        });
        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1" });
        hub.ClearCaptures();
        hub.InjectedFaults.Enqueue((429, """{"Message":"ErrorCode:ThrottlingException;throttled","ExceptionMessage":""}"""));
        hub.InjectedFaults.Enqueue((503, """{"Message":"{\"errorCode\":503001,\"message\":\"busy\"}"}"""));
        Assert.Equal("dev1", (await provider.Registry.GetAsync("dev1")).Id);
        Assert.Equal(3, hub.Captured.Count);

        hub.ClearCaptures();
        for (var i = 0; i < 3; i++) hub.InjectedFaults.Enqueue((429, """{"Message":"ErrorCode:ThrottlingException;throttled"}"""));
        var throttled = await IoTAssert.ThrowsAsync(IoTErrorKind.Throttled, () => provider.Registry.GetAsync("dev1"));
        Assert.True(throttled.IsTransient);
        Assert.Equal(3, hub.Captured.Count);

        // A create is not idempotent: a 500 (maybe processed) is not repeated.
        hub.ClearCaptures();
        hub.InjectedFaults.Enqueue((500, """{"Message":"{\"errorCode\":500001,\"message\":\"oops\"}"}"""));
        await Assert.ThrowsAsync<IoTException>(() => provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev2" }));
        Assert.Single(hub.Captured);

        hub.InjectedFaults.Enqueue((403, """{"Message":"ErrorCode:IotHubQuotaExceeded;daily quota"}"""));
        await IoTAssert.ThrowsAsync(IoTErrorKind.QuotaExceeded, () => provider.Registry.GetAsync("dev1"));
    }

    [Fact]
    public async Task Retry_after_from_the_hub_sets_the_backoff()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub, o =>
        {
            o.Transport.MaxRetries = 1;
            o.Transport.RetryBaseDelay = TimeSpan.FromMilliseconds(1);
            o.Transport.RetryMaxDelay = TimeSpan.FromSeconds(5);
        });
        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1" });
        hub.FaultRetryAfterSeconds = 1;
        hub.InjectedFaults.Enqueue((429, """{"Message":"ErrorCode:ThrottlingException;throttled"}"""));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await provider.Registry.GetAsync("dev1");
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(900), $"retried after {clock.Elapsed}");
    }

    [Fact]
    public async Task RegisterMany_uses_bulk_creates_of_100_and_the_devices_connect_with_their_issued_credentials()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "m000" });
        var registrations = Enumerable.Range(0, 150).Select(i => new DeviceRegistration
        {
            Id = $"m{i:000}",
            Attributes = new Dictionary<string, string> { ["site"] = "north" },
            Credential = i % 2 == 0 ? SasKey : CredentialRequest.X509,
        }).Append(new DeviceRegistration { Id = "bad id" }).ToList();

        var result = await provider.Registry.RegisterManyAsync(registrations);

        // One identity operation per 100 entries, the invalid id never sent; the existing device fails alone.
        Assert.Equal([100, 50], hub.Captured.Where(c => c.Method == "POST" && c.Path == "/devices").Select(c => JsonNode.Parse(c.Body)!.AsArray().Count));
        IoTAssert.Is(IoTErrorKind.AlreadyExists, result[0].Error);
        Assert.IsAssignableFrom<ArgumentException>(result[150].Error);
        Assert.Equal(149, result.Count(i => i.Succeeded));
        Assert.All(result.Skip(1).Take(149), i => Assert.Equal("north", i.Registration!.Device.Attributes["site"]));
        // A SAS key generated here and a self-signed certificate's thumbprint both reached the hub: the devices connect.
        foreach (var item in new[] { result[2], result[3] })
        {
            await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = item.DeviceId, Credential = item.Registration!.Credential! });
            await device.ConnectAsync();
            Assert.True(device.IsConnected);
        }
        Assert.Equal(150, await provider.Registry.ListAsync(new DeviceQuery { AttributeName = "site", AttributeValue = "north" }).CountAsync() + 1);
    }

    [Fact]
    public async Task Bulk_operations_go_in_chunks_of_100_and_report_each_device()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var ids = Enumerable.Range(0, 150).Select(i => $"b{i:000}").ToList();
        var created = await provider.Hub.BulkAsync(ids.Select(id => new JsonObject { ["id"] = id, ["importMode"] = "create" }));
        Assert.True(created.IsSuccessful);
        Assert.Equal([100, 50], hub.Captured.Where(c => c.Method == "POST" && c.Path == "/devices").Select(c => JsonNode.Parse(c.Body)!.AsArray().Count));
        Assert.Equal(150, (await provider.Hub.GetDeviceStatisticsAsync()).Total);

        var again = await provider.Hub.BulkAsync([new JsonObject { ["id"] = "b000", ["importMode"] = "create" }, new JsonObject { ["id"] = "new1", ["importMode"] = "create" }]);
        Assert.False(again.IsSuccessful);
        Assert.Equal("b000", Assert.Single(again.Errors).DeviceId);
        Assert.Equal("DeviceAlreadyExists", again.Errors[0].ErrorCode);

        var deleted = await provider.Hub.DeleteDevicesAsync(ids.Append("ghost"));
        Assert.Equal("ghost", Assert.Single(deleted.Errors).DeviceId);
        Assert.Equal(1, (await provider.Hub.GetDeviceStatisticsAsync()).Total);
    }

    [Fact]
    public async Task Jobs_are_scheduled_with_forced_twin_etag_and_method_timeouts()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var start = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        await provider.Hub.ScheduleTwinUpdateAsync("job-1", "tags.site = 'a'", new JsonObject { ["properties"] = new JsonObject { ["desired"] = new JsonObject { ["x"] = 1 } } }, start, TimeSpan.FromMinutes(10));
        await provider.Hub.ScheduleMethodAsync("job-2", "tags.site = 'a'", "reboot", new JsonObject(), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10), start, TimeSpan.FromMinutes(10));
        var bodies = hub.Captured.Where(c => c.Path.StartsWith("/jobs/v2/", StringComparison.Ordinal)).Select(c => JsonNode.Parse(c.Body)!).ToList();
        Assert.Equal("*", bodies[0]["updateTwin"]!["etag"]!.GetValue<string>());
        Assert.Equal("scheduleUpdateTwin", bodies[0]["type"]!.GetValue<string>());
        Assert.Equal("2026-01-02T03:04:05.000Z", bodies[0]["startTime"]!.GetValue<string>());
        Assert.Equal(600, bodies[0]["maxExecutionTimeInSeconds"]!.GetValue<long>());
        Assert.Equal(10, bodies[1]["cloudToDeviceMethod"]!["connectTimeoutInSeconds"]!.GetValue<int>());
        Assert.Equal(30, bodies[1]["cloudToDeviceMethod"]!["responseTimeoutInSeconds"]!.GetValue<int>());
    }

    [Fact]
    public async Task Sas_is_renewed_by_reconnecting_before_expiry()
    {
        await using var hub = await IotHubDouble.StartAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var provider = IotHubDoubleProviders.Create(hub, o => o.SasTimeToLive = TimeSpan.FromMinutes(20), time);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1", Credential = SasKey });
        await using var device = (AzureDeviceConnection)provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = registered.Credential! });
        var reconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await device.ConnectAsync();
        device.Client.Connected += (_, _) => reconnected.TrySetResult();
        // Renewal is due a quarter of the lifetime before expiry: 15 minutes in.
        time.Advance(TimeSpan.FromMinutes(14));
        await Task.Delay(200);
        Assert.Single(hub.Captured, c => c.Kind == "mqtt-connect");
        time.Advance(TimeSpan.FromMinutes(2));
        await reconnected.Task.WaitAsync(TimeSpan.FromSeconds(15));
        var connects = hub.Captured.Where(c => c.Kind == "mqtt-connect").Select(c => c.Headers["password"]).ToList();
        Assert.Equal(2, connects.Count);
        Assert.NotEqual(connects[0], connects[1]);
        Assert.True(device.IsConnected);
    }

    [Fact]
    public async Task Cloud_to_device_messages_arrive_with_their_properties()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1", Credential = SasKey });
        await using var device = (AzureDeviceConnection)provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = registered.Credential! });
        var received = new TaskCompletionSource<CloudToDeviceMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        await device.EnableCloudToDeviceAsync((m, _) => { received.TrySetResult(m); return ValueTask.CompletedTask; });
        await device.ConnectAsync();
        await hub.SendCloudToDeviceAsync("dev1", "hello", [new("$.mid", "c1"), new("color", "dark blue"), new("flag", null)]);
        var message = await received.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("hello", System.Text.Encoding.UTF8.GetString(message.Body.Span));
        Assert.Equal("c1", message.Properties["$.mid"]);
        Assert.Equal("dark blue", message.Properties["color"]);
        Assert.Null(message.Properties["flag"]);
        Assert.Contains(hub.Captured, c => c.Kind == "mqtt-subscribe" && c.Path == "devices/dev1/messages/devicebound/#" && c.Query == "1");
    }
}
