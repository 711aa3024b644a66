using IoTMastery.Sdk.TestSupport;
namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>The registry behaves the same on every provider: register, read, list, change, disable and delete devices.</summary>
public abstract class RegistryContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task Register_then_get_returns_the_device_with_its_attributes_enabled()
    {
        var id = ProviderFixture.NewDeviceId();
        var registered = await RegisterAsync(id, new Dictionary<string, string> { ["site"] = "north", ["model"] = "p-7" });

        Assert.Equal(id, registered.Device.Id);
        Assert.NotNull(registered.Credential);
        var device = await Provider.Registry.GetAsync(id, Ct);
        Assert.Equal(id, device.Id);
        Assert.True(device.Enabled);
        Assert.Equal("north", device.Attributes["site"]);
        Assert.Equal("p-7", device.Attributes["model"]);
    }

    [Fact]
    public async Task List_pages_through_exactly_the_matching_devices_once_each()
    {
        var run = ProviderFixture.NewDeviceId("run");
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var id = ProviderFixture.NewDeviceId();
            await RegisterAsync(id, new Dictionary<string, string> { ["run"] = run }, withCredential: false);
            ids.Add(id);
        }
        await RegisterAsync(attributes: new Dictionary<string, string> { ["run"] = "other-" + run }, withCredential: false);

        var query = new DeviceQuery { PageSize = 2, AttributeName = "run", AttributeValue = run };
        var seen = new List<string>();
        var pages = 0;
        await foreach (var page in Provider.Registry.ListAsync(query, Ct).AsPages().WithCancellation(Ct))
        {
            Assert.True(page.Items.Count <= 2, $"a page holds {page.Items.Count} devices, more than PageSize 2");
            seen.AddRange(page.Items.Select(d => d.Id));
            // Filters may be applied per page after the service pages (GCP-style), so pages can be short; they must still end.
            Assert.True(++pages <= 1000, "the listing did not end");
        }

        Assert.Equal(ids.Order(), seen.Order());
        var streamed = await Provider.Registry.ListAsync(query, Ct).Select(d => d.Id).ToListAsync(Ct);
        Assert.Equal(ids.Order(), streamed.Order());
    }

    [Fact]
    public async Task A_continuation_token_resumes_in_a_new_listing_and_every_device_comes_exactly_once()
    {
        const int count = 250;
        var run = ProviderFixture.NewDeviceId("run");
        var registrations = Enumerable.Range(0, count).Select(_ => new DeviceRegistration
        {
            Id = ProviderFixture.NewDeviceId("pg"),
            Attributes = new Dictionary<string, string> { ["run"] = run },
        }).ToList();
        // 250 registrations are far more work than one call: a bound of their own, still finite.
        using var deadline = new CancellationTokenSource(ProviderFixture.Patience * 6);
        var registered = await Provider.Registry.RegisterManyAsync(registrations, deadline.Token);
        Assert.All(registered, i => Assert.True(i.Succeeded, i.Error?.Message));
        var query = new DeviceQuery { PageSize = 100, AttributeName = "run", AttributeValue = run };

        // A first listing read to the end of its second page, as a process that stops there and keeps only the token.
        var firstRun = new List<string>();
        string? token = null;
        var pages = 0;
        await foreach (var page in Provider.Registry.ListAsync(query, deadline.Token).AsPages().WithCancellation(deadline.Token))
        {
            Assert.True(page.Items.Count <= 100, $"a page holds {page.Items.Count} devices, more than PageSize 100");
            firstRun.AddRange(page.Items.Select(d => d.Id));
            token = page.ContinuationToken;
            if (++pages == 2) break;
        }
        Assert.NotNull(token);
        // The token names its listing: with other filters it is refused at once rather than resuming somewhere else.
        Assert.ThrowsAny<ArgumentException>(() => Provider.Registry.ListAsync(query with { AttributeValue = run + "-other" }, Ct).AsPages(token));

        // A new listing (a new call, as a later process would make) resumed from that token reads the rest.
        var rest = new List<string>();
        await foreach (var page in Provider.Registry.ListAsync(query, deadline.Token).AsPages(token).WithCancellation(deadline.Token))
        {
            rest.AddRange(page.Items.Select(d => d.Id));
            Assert.True(++pages <= 1000, "the listing did not end");
        }

        var all = firstRun.Concat(rest).ToList();
        Assert.Equal(all.Count, all.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(registrations.Select(r => r.Id).Order(StringComparer.Ordinal), all.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_token_of_another_listing_or_none_at_all_is_refused_before_the_network()
    {
        var query = new DeviceQuery { AttributeName = "run", AttributeValue = "a" };
        var listing = Provider.Registry.ListAsync(query, Ct);

        Assert.ThrowsAny<ArgumentException>(() => listing.AsPages("not a token"));
        Assert.ThrowsAny<ArgumentException>(() => listing.AsPages("iotm1.AAAA"));
        Assert.Throws<ArgumentOutOfRangeException>(() => listing.AsPages(pageSizeHint: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => listing.AsPages(pageSizeHint: 1001));
    }

    [Fact]
    public async Task Bulk_register_reports_every_device_and_one_bad_id_fails_alone()
    {
        const int count = 250, bad = 117;
        var run = ProviderFixture.NewDeviceId("run");
        // A space and a slash break every provider's id rule, so the item fails before the network everywhere.
        var registrations = Enumerable.Range(0, count).Select(i => new DeviceRegistration
        {
            Id = i == bad ? "bad id/" + run : ProviderFixture.NewDeviceId("bk"),
            Attributes = new Dictionary<string, string> { ["run"] = run },
            Credential = Fixture.DeviceCredential,
        }).ToList();
        // 250 credentialed registrations are far more work than one call (on AWS several requests each): a bound of its own,
        // not linked to the test's usual one, still finite.
        using var deadline = new CancellationTokenSource(ProviderFixture.Patience * 6);

        var result = await Provider.Registry.RegisterManyAsync(registrations, deadline.Token);

        Assert.Equal(count, result.Count);
        Assert.Equal(Enumerable.Range(0, count), result.Select(i => i.Index));
        var failed = Assert.Single(result, i => !i.Succeeded);
        Assert.Equal(bad, failed.Index);
        Assert.Equal(registrations[bad].Id, failed.DeviceId);
        Assert.IsAssignableFrom<ArgumentException>(failed.Error);
        Assert.Equal(count - 1, result.Count(i => i.Succeeded));
        foreach (var item in result.Where(i => i.Succeeded))
        {
            Assert.Equal(registrations[item.Index].Id, item.Registration!.Device.Id);
            Assert.Equal(run, item.Registration.Device.Attributes["run"]);
            Assert.NotNull(item.Registration.Credential);
        }
        var listed = await Provider.Registry.ListAsync(new DeviceQuery { PageSize = 100, AttributeName = "run", AttributeValue = run }, deadline.Token)
            .Select(d => d.Id).ToListAsync(deadline.Token);
        Assert.Equal(registrations.Where((_, i) => i != bad).Select(r => r.Id).Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));

        // Registering one of them again fails for that device alone, typed as a single registration would.
        var again = await Provider.Registry.RegisterManyAsync(
            [registrations[0], new DeviceRegistration { Id = ProviderFixture.NewDeviceId("bk"), Credential = Fixture.DeviceCredential }], deadline.Token);
        IoTAssert.Is(IoTErrorKind.AlreadyExists, again[0].Error);
        Assert.True(again[1].Succeeded, again[1].Error?.Message);
    }

    [Fact]
    public async Task List_filters_by_status()
    {
        var run = ProviderFixture.NewDeviceId("run");
        var enabled = (await RegisterAsync(attributes: new Dictionary<string, string> { ["run"] = run }, withCredential: false)).Device.Id;
        var disabled = (await RegisterAsync(attributes: new Dictionary<string, string> { ["run"] = run }, withCredential: false)).Device.Id;
        await Provider.Registry.DisableAsync(disabled, Ct);

        var onlyDisabled = await Provider.Registry.ListAsync(new DeviceQuery { AttributeName = "run", AttributeValue = run, Enabled = false }, Ct).Select(d => d.Id).ToListAsync(Ct);
        var onlyEnabled = await Provider.Registry.ListAsync(new DeviceQuery { AttributeName = "run", AttributeValue = run, Enabled = true }, Ct).Select(d => d.Id).ToListAsync(Ct);

        Assert.Equal([disabled], onlyDisabled);
        Assert.Equal([enabled], onlyEnabled);
    }

    [Fact]
    public async Task Update_sets_and_removes_attributes()
    {
        var id = (await RegisterAsync(attributes: new Dictionary<string, string> { ["keep"] = "1", ["drop"] = "2" }, withCredential: false)).Device.Id;

        var updated = await Provider.Registry.UpdateAsync(id, new Dictionary<string, string?> { ["drop"] = null, ["added"] = "3" }, cancellationToken: Ct);

        var read = await Provider.Registry.GetAsync(id, Ct);
        foreach (var device in new[] { updated, read })
        {
            Assert.Equal("1", device.Attributes["keep"]);
            Assert.Equal("3", device.Attributes["added"]);
            Assert.False(device.Attributes.ContainsKey("drop"));
        }
    }

    [Fact]
    public async Task Disable_is_read_back_and_enable_restores()
    {
        var id = (await RegisterAsync(withCredential: false)).Device.Id;

        var disabled = await Provider.Registry.DisableAsync(id, Ct);
        Assert.False(disabled.Enabled);
        Assert.False((await Provider.Registry.GetAsync(id, Ct)).Enabled);

        await Provider.Registry.EnableAsync(id, Ct);
        Assert.True((await Provider.Registry.GetAsync(id, Ct)).Enabled);
    }

    [Fact]
    public async Task Delete_removes_the_device_and_a_second_delete_is_not_found()
    {
        var id = (await RegisterAsync()).Device.Id;

        await Provider.Registry.DeleteAsync(id, Ct);

        var notFound = await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.Registry.GetAsync(id, Ct));
        Assert.Equal(id, notFound.DeviceId);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.Registry.DeleteAsync(id, Ct));
    }
}

/// <summary>
/// Optimistic concurrency on the registry record. Where <see cref="ProviderCapabilities.RegistryRecordVersions"/> is false
/// the provider must refuse the <c>expectedVersion</c> of <see cref="IDeviceRegistry.UpdateAsync"/> with <see cref="NotSupportedException"/> rather
/// than ignore it.
/// </summary>
public abstract class RegistryVersionContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task Update_with_a_stale_version_is_refused_and_changes_nothing()
    {
        var id = (await RegisterAsync(attributes: new Dictionary<string, string> { ["a"] = "0" }, withCredential: false)).Device.Id;
        var before = await Provider.Registry.GetAsync(id, Ct);

        if (!Provider.Capabilities.RegistryRecordVersions)
        {
            await Assert.ThrowsAsync<NotSupportedException>(() => Provider.Registry.UpdateAsync(id,
                new Dictionary<string, string?> { ["a"] = "1" }, expectedVersion: before.Version, Ct));
            Assert.Equal("0", (await Provider.Registry.GetAsync(id, Ct)).Attributes["a"]);
            return;
        }

        var current = await Provider.Registry.UpdateAsync(id,
            new Dictionary<string, string?> { ["a"] = "1" }, expectedVersion: before.Version, Ct);
        Assert.NotEqual(before.Version, current.Version);

        await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () => Provider.Registry.UpdateAsync(id,
            new Dictionary<string, string?> { ["a"] = "stale" }, expectedVersion: before.Version, Ct));
        Assert.Equal("1", (await Provider.Registry.GetAsync(id, Ct)).Attributes["a"]);
    }
}
