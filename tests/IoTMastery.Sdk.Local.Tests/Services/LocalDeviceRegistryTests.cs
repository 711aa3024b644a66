using IoTMastery.Sdk.TestSupport;
namespace IoTMastery.Sdk.Local.Tests.Services;

public sealed class LocalDeviceRegistryTests
{
    [Fact]
    public async Task Register_get_update_status_and_delete()
    {
        using var f = await LocalFixture.CreateAsync();
        var result = await f.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1", Attributes = new Dictionary<string, string> { ["site"] = "north" } });
        Assert.Null(result.Credential);
        Assert.Equal((1L, (DateTimeOffset?)LocalFixture.Start, true), (result.Device.Version, result.Device.CreatedAt, result.Device.Enabled));

        await IoTAssert.ThrowsAsync(IoTErrorKind.AlreadyExists, () => f.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1" }));

        var updated = await f.Registry.UpdateAsync("pump-1", new Dictionary<string, string?> { ["site"] = null, ["fw"] = "a" }, expectedVersion: 1);
        Assert.Equal(2, updated.Version);
        Assert.Equal(new Dictionary<string, string> { ["fw"] = "a" }, updated.Attributes);
        var conflict = await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () => f.Registry.UpdateAsync("pump-1", new Dictionary<string, string?>(), expectedVersion: 1));
        Assert.Equal(2L, conflict.CurrentVersion);

        var disabled = await f.Registry.DisableAsync("pump-1");
        Assert.Equal((false, 3L), (disabled.Enabled, disabled.Version));
        Assert.Equal(["pump-1"], f.Bus.Disconnected);
        var read = await f.Registry.GetAsync("pump-1");
        Assert.Equal((disabled.Enabled, disabled.Version), (read.Enabled, read.Version));
        Assert.Equal(disabled.Attributes, read.Attributes);

        await f.Registry.DeleteAsync("pump-1");
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => f.Registry.GetAsync("pump-1"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => f.Registry.DeleteAsync("pump-1"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => f.State.GetAsync("pump-1"));
        Assert.Equal(["pump-1", "pump-1"], f.Bus.Disconnected);
    }

    [Fact]
    public async Task Paging_250_devices_by_100_gives_three_pages_without_duplicates_or_gaps()
    {
        using var f = await LocalFixture.CreateAsync();
        var ids = Enumerable.Range(0, 250).Select(i => $"dev-{i:0000}").ToList();
        foreach (var id in ids.AsEnumerable().Reverse())
            await f.Registry.RegisterAsync(new DeviceRegistration { Id = id });

        var pages = await f.Registry.ListAsync(new DeviceQuery { PageSize = 100 }).AsPages().ToListAsync();

        Assert.Equal([100, 100, 50], pages.Select(p => p.Items.Count));
        Assert.Equal(ids, pages.SelectMany(p => p.Items).Select(d => d.Id));
        var all = new List<string>();
        await foreach (var device in f.Registry.ListAsync(new DeviceQuery { PageSize = 7 }))
            all.Add(device.Id);
        Assert.Equal(ids, all);
    }

    [Fact]
    public async Task Filters_by_status_attribute_and_value()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "a", Attributes = new Dictionary<string, string> { ["site"] = "north" } });
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "b", Attributes = new Dictionary<string, string> { ["site"] = "south" } });
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "c" });
        await f.Registry.DisableAsync("b");

        async Task<string[]> Ids(DeviceQuery q) => (await f.Registry.ListAsync(q).AsPages().FirstAsync()).Items.Select(d => d.Id).ToArray();
        Assert.Equal(["a", "c"], await Ids(new DeviceQuery { Enabled = true }));
        Assert.Equal(["a", "b"], await Ids(new DeviceQuery { AttributeName = "site" }));
        Assert.Equal(["b"], await Ids(new DeviceQuery { AttributeName = "site", AttributeValue = "south" }));
        Assert.Empty(await Ids(new DeviceQuery { AttributeName = "site", AttributeValue = "south", Enabled = true }));
        Assert.Empty(await Ids(new DeviceQuery { AttributeName = "site' OR 1=1 --" }));
    }

    [Fact]
    public async Task The_stored_status_words_are_those_older_stores_hold()
    {
        // Device.Enabled replaced the DeviceStatus enum without a migration: rows keep "Enabled"/"Disabled" both ways.
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "old" });
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "new" });
        Task<string?> StoredAsync(string id) => f.Store.ReadAsync(async (c, ct) =>
        {
            await using var command = LocalStore.Command(c, null, "SELECT status FROM devices WHERE id = $id", ("$id", id));
            return (string?)await command.ExecuteScalarAsync(ct);
        }, default);

        // A row as the enum-era build wrote it for a disabled device.
        await f.Store.WriteAsync((c, tx, ct) => LocalStore.ExecuteAsync(c, tx, "UPDATE devices SET status = 'Disabled' WHERE id = 'old'", ct), default);
        Assert.False((await f.Registry.GetAsync("old")).Enabled);
        Assert.Equal(["old"], await f.Registry.ListAsync(new DeviceQuery { Enabled = false }).Select(d => d.Id).ToListAsync());

        Assert.Equal("Enabled", await StoredAsync("new"));
        await f.Registry.DisableAsync("new");
        Assert.Equal("Disabled", await StoredAsync("new"));
        await f.Registry.EnableAsync("old");
        Assert.Equal(("Enabled", true), (await StoredAsync("old"), (await f.Registry.GetAsync("old")).Enabled));
    }

    [Fact]
    public async Task Credentials_issue_rotate_revoke_and_the_access_policy_follows()
    {
        using var f = await LocalFixture.CreateAsync();
        var registered = await f.Registry.RegisterAsync(new DeviceRegistration { Id = "cam-7", Credential = CredentialRequest.X509 });
        var first = registered.Credential!;
        Assert.True(f.Ca.ValidateClientCertificate(first.ToCertificate()));
        Assert.True(await f.Registry.CanConnectAsync("cam-7", first.Id, default));
        Assert.True(await f.Registry.CanConnectAsync("cam-7", first.Id.ToLowerInvariant(), default));
        Assert.False(await f.Registry.CanConnectAsync("other", first.Id, default));

        var second = await f.Registry.IssueCredentialAsync("cam-7", CredentialRequest.X509);
        var rotated = await f.Registry.RotateCredentialAsync("cam-7", first.Id);
        Assert.False(await f.Registry.CanConnectAsync("cam-7", first.Id, default));
        Assert.True(await f.Registry.CanConnectAsync("cam-7", rotated.Id, default));
        Assert.Equal(["cam-7"], f.Bus.Disconnected);

        await f.Registry.RevokeCredentialAsync("cam-7", second.Id);
        Assert.False(await f.Registry.CanConnectAsync("cam-7", second.Id, default));
        Assert.Equal(["cam-7", "cam-7"], f.Bus.Disconnected);

        var device = await f.Registry.GetAsync("cam-7");
        var revoked = device.Credentials.ToDictionary(c => c.Id, c => c.Revoked);
        Assert.Equal(new Dictionary<string, bool>
        {
            [first.Id] = true,
            [second.Id] = true,
            [rotated.Id] = false,
        }, revoked);
        Assert.Equal(4, device.Version); // register, issue, rotate, revoke
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => f.Registry.RevokeCredentialAsync("cam-7", new string('A', 64)));
    }

    [Fact]
    public async Task Disabled_devices_and_expired_certificates_are_refused()
    {
        using var f = await LocalFixture.CreateAsync();
        var credential = (await f.Registry.RegisterAsync(new DeviceRegistration
        {
            Id = "d1",
            Credential = CredentialRequest.X509 with { Validity = TimeSpan.FromDays(1) },
        })).Credential!;
        await f.Registry.DisableAsync("d1");
        Assert.False(await f.Registry.CanConnectAsync("d1", credential.Id, default));
        await f.Registry.EnableAsync("d1");
        Assert.True(await f.Registry.CanConnectAsync("d1", credential.Id, default));
        f.Time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));
        Assert.False(await f.Registry.CanConnectAsync("d1", credential.Id, default));
    }

    [Theory]
    [InlineData(CredentialKind.SymmetricKey)]
    [InlineData(CredentialKind.PublicKey)]
    public async Task Credential_kinds_other_than_x509_are_not_supported(CredentialKind kind)
    {
        using var f = await LocalFixture.CreateAsync();
        var request = new CredentialRequest { Kind = kind };
        var ex = await Assert.ThrowsAsync<NotSupportedException>(() => f.Registry.RegisterAsync(new DeviceRegistration { Id = "x", Credential = request }));
        Assert.Contains("X.509", ex.Message, StringComparison.Ordinal);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => f.Registry.GetAsync("x"));
    }

    [Fact]
    public async Task Hostile_connect_attempts_are_refused_without_throwing()
    {
        using var f = await LocalFixture.CreateAsync();
        Assert.False(await f.Registry.CanConnectAsync("bad/id", new string('A', 64), default));
        Assert.False(await f.Registry.CanConnectAsync("d1", "' OR 1=1 --", default));
        Assert.False(await f.Registry.CanConnectAsync("d1", new string('A', 64), default));
    }
}
