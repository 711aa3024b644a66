using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Local.Tests.Services;

/// <summary>
/// Bad input fails with <see cref="ArgumentException"/> before any I/O: the services run on a store that is
/// already disposed, so touching it would throw <see cref="ObjectDisposedException"/> instead.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create();
    private readonly LocalDeviceRegistry _registry;
    private readonly LocalStateService _state;
    private readonly IFirmwareService _firmware;

    public BadInputTests()
    {
        var store = LocalStore.OpenInMemory();
        var bus = new RecordingMessageBus();
        var time = new FakeTimeProvider(LocalFixture.Start);
        _registry = new LocalDeviceRegistry(store, _ca, bus, time);
        _state = new LocalStateService(store, bus);
        // Built while the store is open (its firmware tables are migrated on open), then closed with it.
        using (var firmware = new LocalFirmware(store, _state, time))
            _firmware = firmware.Service;
        store.Dispose();
    }

    public void Dispose() => _ca.Dispose();

    public static TheoryData<string> BadIds => ["", "dev/1", "dev+1", "dev#", "a b", new string('a', 129), "dév", ".", ".."];

    [Theory]
    [MemberData(nameof(BadIds))]
    public async Task Device_ids_breaking_the_local_rule_are_rejected(string id)
    {
        await AssertBadInput(() => _registry.RegisterAsync(new DeviceRegistration { Id = id }));
        await AssertBadInput(() => _registry.GetAsync(id));
        await AssertBadInput(() => _registry.UpdateAsync(id, new Dictionary<string, string?>()));
        await AssertBadInput(() => _registry.DisableAsync(id));
        await AssertBadInput(() => _registry.DeleteAsync(id));
        await AssertBadInput(() => _registry.IssueCredentialAsync(id, CredentialRequest.X509));
        await AssertBadInput(() => _state.GetAsync(id));
        await AssertBadInput(() => _state.UpdateDesiredAsync(id, []));
        await AssertBadInput(() => _state.ApplyReportedAsync(id, [], default));
        await AssertBadInput(() => _firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "1.0.0", DeviceIds = [id] }));
    }

    [Fact]
    public async Task Oversize_or_malformed_attributes_are_rejected()
    {
        var tooMany = Enumerable.Range(0, LocalDeviceRegistry.MaxAttributes + 1).ToDictionary(i => $"k{i}", i => "v");
        await AssertBadInput(() => _registry.RegisterAsync(new DeviceRegistration { Id = "d1", Attributes = tooMany }));
        await AssertBadInput(() => _registry.RegisterAsync(new DeviceRegistration { Id = "d1", Attributes = new Dictionary<string, string> { ["k"] = new string('v', 1025) } }));
        await AssertBadInput(() => _registry.RegisterAsync(new DeviceRegistration { Id = "d1", Attributes = new Dictionary<string, string> { [new string('k', 129)] = "v" } }));
        await AssertBadInput(() => _registry.UpdateAsync("d1", new Dictionary<string, string?> { ["bad\nname"] = "v" }));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(1001)]
    public async Task Page_sizes_outside_1_to_1000_are_rejected(int pageSize) =>
        await AssertBadInput(() => _registry.ListAsync(new DeviceQuery { PageSize = pageSize }).AsPages().FirstAsync().AsTask());

    [Theory]
    [InlineData("garbage")]
    [InlineData("iotm1.!!!")]
    [InlineData("iotm1.ZGV2LzE")]   // decodes, but names no listing
    [InlineData("v1.ZGV2LzE")]      // the format before IoTPageable
    public async Task Forged_continuation_tokens_are_rejected(string token) =>
        await AssertBadInput(() => _registry.ListAsync().AsPages(token).FirstAsync().AsTask());

    [Fact]
    public async Task A_token_for_this_listing_with_an_id_the_registry_could_not_have_issued_is_rejected() =>
        // "dev/1" breaks the Local id rules, so no page of this registry ended with it.
        await AssertBadInput(() => _registry.ListAsync().AsPages(PageScope.Of("devices", "local", new DeviceQuery()).Encode("dev/1")).FirstAsync().AsTask());

    [Fact]
    public async Task Bad_credentials_patches_and_plans_are_rejected()
    {
        await AssertBadInput(() => _registry.RevokeCredentialAsync("d1", "not-a-thumbprint"));
        await AssertBadInput(() => _registry.RotateCredentialAsync("d1", new string('Z', 64)));
        await AssertBadInput(() => _registry.IssueCredentialAsync("d1", CredentialRequest.X509 with { Validity = TimeSpan.Zero }));
        await Assert.ThrowsAsync<NotSupportedException>(() => _registry.IssueCredentialAsync("d1", new CredentialRequest { Kind = CredentialKind.SymmetricKey }));
        await AssertBadInput(() => _state.UpdateDesiredAsync("d1", new JsonObject { ["x"] = new string('x', LocalStateService.MaxDocumentBytes) }));
        await AssertBadInput(() => _state.UpdateDesiredAsync("d1", [], expectedVersion: -1));
        await AssertBadInput(() => _firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "1.0.0", DeviceIds = ["d1"], SuccessThreshold = double.NaN }));
        await AssertBadInput(() => _firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "1.0.0", DeviceIds = [] }));
        await AssertBadInput(() => _firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "1.0.0", DeviceIds = ["d1", "d1"] }));
        await AssertBadInput(() => _firmware.GetRolloutAsync("bad id!"));
        await AssertBadInput(() => _firmware.CancelRolloutAsync(new string('r', 65)));
        await AssertBadInput(() => _firmware.CreateReleaseAsync(new FirmwareRelease { Version = "1 0", Uri = new Uri("https://x/y"), Sha256 = new string('a', 64), SizeBytes = 1 }));
        await AssertBadInput(() => _firmware.CreateReleaseAsync(new FirmwareRelease { Version = "1.0", Uri = new Uri("ftp://x/y"), Sha256 = new string('a', 64), SizeBytes = 1 }));
    }

    [Fact]
    public async Task Valid_input_does_reach_the_store()
    {
        // Guards the tests above: a valid call on the disposed store fails with ObjectDisposedException.
        await Assert.ThrowsAsync<ObjectDisposedException>(() => _registry.GetAsync("d1"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => _registry.ListAsync(new DeviceQuery { PageSize = 1000 }).AsPages().FirstAsync().AsTask());
    }

    private static async Task AssertBadInput(Func<Task> call)
    {
        var ex = await Record.ExceptionAsync(call);
        Assert.True(ex is ArgumentException, $"expected an ArgumentException, got {ex?.GetType().Name ?? "none"}: {ex?.Message}");
    }
}
