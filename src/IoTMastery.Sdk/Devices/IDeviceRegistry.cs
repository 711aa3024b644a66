namespace IoTMastery.Sdk;

/// <summary>
/// The fleet-side device registry: register, read, list, update, enable/disable and delete
/// devices, issue, rotate and revoke their credentials, and read their connectivity (presence).
/// </summary>
/// <remarks>
/// Presence lives here because every cloud keeps it as an attribute of the registry's device record (Azure IoT Hub's
/// <c>connectionState</c>, AWS fleet indexing's connectivity, the GCP-style <c>lastHeartbeatTime</c>). What a cloud cannot
/// give is a <see cref="ProviderCapabilities"/> flag (<see cref="ProviderCapabilities.PresenceConnectionState"/>,
/// <see cref="ProviderCapabilities.PresenceEvents"/>), and every answer says how stale it may be (<see cref="DevicePresence.MaxStaleness"/>).
/// </remarks>
public interface IDeviceRegistry
{
    /// <summary>Registers a device, issuing a credential when <see cref="DeviceRegistration.Credential"/> is set.</summary>
    /// <exception cref="ArgumentException">The id breaks the provider's <see cref="DeviceIdRules"/>.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.AlreadyExists"/>: A device with the id exists.</exception>
    Task<DeviceRegistrationResult> RegisterAsync(DeviceRegistration registration, CancellationToken cancellationToken = default);

    /// <summary>
    /// Registers many devices in one call, each with a credential when its <see cref="DeviceRegistration.Credential"/> is set,
    /// and reports every device's own outcome: one bad or already-existing device fails alone, the others are registered.
    /// Each id is checked against the provider's <see cref="DeviceIdRules"/> before any network or disk; an id that
    /// appears twice fails its second occurrence. Failed devices are not retried (registration is not idempotent).
    /// Providers use their service's bulk operation where one exists (Local: one transaction per chunk; Azure: bulk
    /// identity operations of up to 100 devices); others register one by one, a few calls at a time.
    /// </summary>
    /// <param name="registrations">The devices, at most 100,000.</param>
    /// <returns>
    /// One outcome per requested device, in the order given (item <c>i</c> is <c>registrations[i]</c>). Never all-or-nothing:
    /// read every item's <see cref="BulkRegistrationItem.Succeeded"/>.
    /// </returns>
    /// <param name="cancellationToken">Cancels the devices not yet written; they are reported with an <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ArgumentException">The list or an entry of it is null, or it holds more than 100,000 devices.</exception>
    Task<IReadOnlyList<BulkRegistrationItem>> RegisterManyAsync(IReadOnlyList<DeviceRegistration> registrations, CancellationToken cancellationToken = default) =>
        BulkRegistration.RegisterOneByOneAsync(this, registrations, null, BulkRegistration.DefaultConcurrency, cancellationToken);

    /// <summary>Reads one device.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: No such device.</exception>
    Task<Device> GetAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists the devices matching <paramref name="query"/>, in id order where the provider keeps one: <c>await foreach</c>
    /// for every device, or <see cref="IoTPageable{T}.AsPages"/> for pages of <see cref="DeviceQuery.PageSize"/> and a
    /// continuation token to resume from later. Nothing is requested until the listing is enumerated.
    /// </summary>
    /// <exception cref="ArgumentException">The query is invalid (page size outside 1-1000, a value without a name, a bad attribute name); thrown by this call.</exception>
    IoTPageable<Device> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default);

    /// <summary>Sets or removes attributes, optionally guarded by the expected record version.</summary>
    /// <param name="deviceId">The device.</param>
    /// <param name="attributes">Attributes to set; a <see langword="null"/> value removes the attribute.</param>
    /// <param name="expectedVersion">
    /// When set, the update fails with <see cref="IoTErrorKind.PreconditionFailed"/> unless the record is at this
    /// <see cref="Device.Version"/>; providers without record versions refuse it (<see cref="ProviderCapabilities.RegistryRecordVersions"/>).
    /// </param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.PreconditionFailed"/>: <paramref name="expectedVersion"/> is not current.</exception>
    Task<Device> UpdateAsync(string deviceId, IReadOnlyDictionary<string, string?> attributes, long? expectedVersion = null, CancellationToken cancellationToken = default);

    /// <summary>Enables a device so it may connect again. Enabling an enabled device changes nothing.</summary>
    /// <returns>The device record after the change.</returns>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: No such device.</exception>
    Task<Device> EnableAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Disables a device: its open connections are closed and new ones refused until <see cref="EnableAsync"/>. Its credentials
    /// are kept. Disabling a disabled device changes nothing.
    /// </summary>
    /// <returns>The device record after the change.</returns>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: No such device.</exception>
    Task<Device> DisableAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>Deletes a device and revokes its credentials.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: No such device.</exception>
    Task DeleteAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>Issues a new credential to a device, keeping its existing ones.</summary>
    Task<IssuedCredential> IssueCredentialAsync(string deviceId, CredentialRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Issues a replacement for <paramref name="credentialId"/> and then revokes the old one,
    /// so the device must reconnect with the new credential.
    /// </summary>
    Task<IssuedCredential> RotateCredentialAsync(string deviceId, string credentialId, CredentialRequest? request = null, CancellationToken cancellationToken = default);

    /// <summary>Revokes a credential; connections made with it are closed and refused from now on.</summary>
    Task RevokeCredentialAsync(string deviceId, string credentialId, CancellationToken cancellationToken = default);

    /// <summary>One device's presence now: connected or not, since when, and when it was last heard from.</summary>
    /// <exception cref="ArgumentException">The id breaks the provider's <see cref="DeviceIdRules"/>.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: No such device.</exception>
    Task<DevicePresence> GetPresenceAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The presence of the devices <see cref="ListAsync"/> would list, in the same order and with the same filters and page
    /// size: <c>await foreach</c> for every device, or <see cref="IoTPageable{T}.AsPages"/> for pages and a continuation token
    /// to resume from (the tokens are the device listing's).
    /// </summary>
    /// <exception cref="ArgumentException">The query is invalid (page size outside 1-1000, a value without a name); thrown by this call.</exception>
    IoTPageable<DevicePresence> ListPresenceAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Connect and disconnect events of every device as they happen, from the moment of the first <c>MoveNextAsync</c>, until
    /// cancelled. Each is the device's <see cref="DevicePresence"/> as of the change (<see cref="DevicePresence.Connected"/> set,
    /// <see cref="DevicePresence.Since"/> the time of the change). A slow reader loses events rather than holding the provider
    /// up (counted in <see cref="DroppedPresenceEventCount"/>).
    /// </summary>
    /// <exception cref="NotSupportedException">The provider has no push stream (<see cref="ProviderCapabilities.PresenceEvents"/> is false).</exception>
    IAsyncEnumerable<DevicePresence> ReadPresenceEventsAsync(CancellationToken cancellationToken = default);

    /// <summary>Presence events dropped because a reader of <see cref="ReadPresenceEventsAsync"/> fell more than its buffer behind.</summary>
    long DroppedPresenceEventCount { get; }
}
