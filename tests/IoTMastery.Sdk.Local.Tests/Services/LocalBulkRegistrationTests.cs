using IoTMastery.Sdk.TestSupport;
namespace IoTMastery.Sdk.Local.Tests.Services;

/// <summary>Local's own bulk path: per-device outcomes across transaction chunks, records equal to what the database holds.</summary>
public sealed class LocalBulkRegistrationTests
{
    [Fact]
    public async Task Many_devices_across_chunks_each_fail_alone_and_the_rest_are_stored_as_reported()
    {
        using var f = await LocalFixture.CreateAsync();
        await f.Registry.RegisterAsync(new DeviceRegistration { Id = "existing" });
        // More than two chunks, so the chunking and the per-chunk transactions are exercised.
        var count = LocalDeviceRegistry.BulkChunkSize * 2 + 7;
        var registrations = Enumerable.Range(0, count).Select(i => new DeviceRegistration
        {
            Id = $"bulk-{i:D5}",
            Attributes = new Dictionary<string, string> { ["n"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            Credential = CredentialRequest.X509,
        }).ToList();
        registrations[3] = new DeviceRegistration { Id = "existing", Credential = CredentialRequest.X509 };
        registrations[600] = registrations[599] with { };
        registrations[700] = new DeviceRegistration { Id = "bad-attribute", Attributes = new Dictionary<string, string> { [""] = "x" } };
        registrations[800] = new DeviceRegistration { Id = "symmetric", Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } };
        registrations[900] = new DeviceRegistration { Id = "bad/id" };

        var result = await f.Registry.RegisterManyAsync(registrations);

        Assert.Equal(count, result.Count);
        IoTAssert.Is(IoTErrorKind.AlreadyExists, result[3].Error);
        Assert.IsAssignableFrom<ArgumentException>(result[600].Error);
        Assert.True(result[599].Succeeded);
        Assert.IsAssignableFrom<ArgumentException>(result[700].Error);
        Assert.IsType<NotSupportedException>(result[800].Error);
        Assert.IsAssignableFrom<ArgumentException>(result[900].Error);
        Assert.Equal(count - 5, result.Count(i => i.Succeeded));

        foreach (var item in result.Where(i => i.Succeeded))
        {
            // The record built in memory is exactly the one stored.
            var stored = await f.Registry.GetAsync(item.DeviceId);
            var reported = item.Registration!.Device;
            Assert.Equal((stored.Id, stored.Enabled, stored.Version, stored.CreatedAt), (reported.Id, reported.Enabled, reported.Version, reported.CreatedAt));
            Assert.Equal(stored.Attributes, reported.Attributes);
            Assert.Equal(stored.Credentials, reported.Credentials);
            var credential = Assert.Single(stored.Credentials);
            Assert.Equal(item.Registration.Credential!.Id, credential.Id);
            // The certificates themselves are checked on a sample: each check costs a chain build.
            if (item.Index % 50 != 0) continue;
            using var certificate = item.Registration.Credential.ToCertificate();
            Assert.True(f.Ca.ValidateClientCertificate(certificate));
            Assert.Equal(item.DeviceId, LocalCertificateAuthority.GetCommonName(certificate));
            Assert.True(await f.Registry.CanConnectAsync(item.DeviceId, credential.Id, CancellationToken.None));
        }
        // The existing device kept its one record and got no credential from the failed item.
        Assert.Empty((await f.Registry.GetAsync("existing")).Credentials);
        Assert.Equal(count - 5 + 1, await f.Registry.ListAsync().CountAsync());
    }

    [Fact]
    public async Task A_null_list_or_entry_and_an_oversized_list_are_refused_before_the_database()
    {
        using var f = await LocalFixture.CreateAsync();

        await Assert.ThrowsAsync<ArgumentNullException>(() => f.Registry.RegisterManyAsync(null!));
        await Assert.ThrowsAsync<ArgumentException>(() => f.Registry.RegisterManyAsync([new DeviceRegistration { Id = "a" }, null!]));
        var tooMany = Enumerable.Repeat(new DeviceRegistration { Id = "x" }, 100_001).ToList();
        await Assert.ThrowsAsync<ArgumentException>(() => f.Registry.RegisterManyAsync(tooMany));

        Assert.Empty(await f.Registry.ListAsync().ToListAsync());
    }

    [Fact]
    public async Task A_cancelled_call_reports_every_unwritten_device_as_cancelled()
    {
        using var f = await LocalFixture.CreateAsync();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var result = await f.Registry.RegisterManyAsync(
            [new DeviceRegistration { Id = "c1", Credential = CredentialRequest.X509 }, new DeviceRegistration { Id = "c2" }], cancelled.Token);

        Assert.All(result, i => Assert.IsAssignableFrom<OperationCanceledException>(i.Error));
        Assert.Empty(await f.Registry.ListAsync().ToListAsync());
    }
}
