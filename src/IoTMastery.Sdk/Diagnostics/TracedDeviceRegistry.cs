namespace IoTMastery.Sdk.Diagnostics;

/// <summary>Traces every call of any provider's <see cref="IDeviceRegistry"/>; the span names are <c>registry.*</c>.</summary>
internal sealed class TracedDeviceRegistry(IDeviceRegistry inner, string provider) : TracedService(provider), IDeviceRegistry
{
    internal IDeviceRegistry Inner => inner;

    public Task<DeviceRegistrationResult> RegisterAsync(DeviceRegistration registration, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.register", registration?.Id, () => inner.RegisterAsync(registration!, cancellationToken));

    // Forwarded, not left to the interface's default: the default would register one by one through this wrapper and
    // lose the provider's own bulk path.
    public Task<IReadOnlyList<BulkRegistrationItem>> RegisterManyAsync(IReadOnlyList<DeviceRegistration> registrations, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.register_many", null, () => inner.RegisterManyAsync(registrations, cancellationToken));

    public Task<Device> GetAsync(string deviceId, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.get", deviceId, () => inner.GetAsync(deviceId, cancellationToken));

    // One span per page fetched (a listing is as many calls as it has pages), whether read as items or as pages.
    public IoTPageable<Device> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) =>
        TracedPageable.Wrap(inner.ListAsync(query, cancellationToken), "registry.list_page", Provider);

    public Task<Device> UpdateAsync(string deviceId, IReadOnlyDictionary<string, string?> attributes, long? expectedVersion = null, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.update", deviceId, () => inner.UpdateAsync(deviceId, attributes, expectedVersion, cancellationToken));

    public Task<Device> EnableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.enable", deviceId, () => inner.EnableAsync(deviceId, cancellationToken));

    public Task<Device> DisableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.disable", deviceId, () => inner.DisableAsync(deviceId, cancellationToken));

    public Task DeleteAsync(string deviceId, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.delete", deviceId, () => inner.DeleteAsync(deviceId, cancellationToken));

    public Task<IssuedCredential> IssueCredentialAsync(string deviceId, CredentialRequest request, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.issue_credential", deviceId, () => inner.IssueCredentialAsync(deviceId, request, cancellationToken));

    public Task<IssuedCredential> RotateCredentialAsync(string deviceId, string credentialId, CredentialRequest? request = null, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.rotate_credential", deviceId, () => inner.RotateCredentialAsync(deviceId, credentialId, request, cancellationToken));

    public Task RevokeCredentialAsync(string deviceId, string credentialId, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.revoke_credential", deviceId, () => inner.RevokeCredentialAsync(deviceId, credentialId, cancellationToken));

    public Task<DevicePresence> GetPresenceAsync(string deviceId, CancellationToken cancellationToken = default) =>
        TraceAsync("registry.get_presence", deviceId, () => inner.GetPresenceAsync(deviceId, cancellationToken));

    public IoTPageable<DevicePresence> ListPresenceAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) =>
        TracedPageable.Wrap(inner.ListPresenceAsync(query, cancellationToken), "registry.list_presence_page", Provider);

    // A stream that lives until cancelled is no call with a duration; it is forwarded untraced.
    public IAsyncEnumerable<DevicePresence> ReadPresenceEventsAsync(CancellationToken cancellationToken = default) =>
        inner.ReadPresenceEventsAsync(cancellationToken);

    public long DroppedPresenceEventCount => inner.DroppedPresenceEventCount;
}
