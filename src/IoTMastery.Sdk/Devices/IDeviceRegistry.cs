namespace IoTMastery.Sdk;

/// <summary>
/// The fleet-side device registry: register, read, list, update, enable/disable and delete
/// devices, and issue, rotate and revoke their credentials.
/// </summary>
public interface IDeviceRegistry
{
    /// <summary>Registers a device, issuing a credential when <see cref="DeviceRegistration.Credential"/> is set.</summary>
    /// <exception cref="ArgumentException">The id breaks the provider's <see cref="DeviceIdRules"/>.</exception>
    /// <exception cref="ResourceAlreadyExistsException">A device with the id exists.</exception>
    Task<DeviceRegistrationResult> RegisterAsync(DeviceRegistration registration, CancellationToken cancellationToken = default);

    /// <summary>Reads one device.</summary>
    /// <exception cref="DeviceNotFoundException">No such device.</exception>
    Task<Device> GetAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>Reads one page of devices; pass the returned continuation token for the next.</summary>
    Task<DevicePage> ListPageAsync(DeviceQuery? query = null, string? continuationToken = null, CancellationToken cancellationToken = default);

    /// <summary>Lists every device matching <paramref name="query"/>, fetching pages as it goes.</summary>
    IAsyncEnumerable<Device> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default);

    /// <summary>Sets or removes attributes.</summary>
    /// <exception cref="PreconditionFailedException"><see cref="DeviceUpdate.ExpectedVersion"/> is not current.</exception>
    Task<Device> UpdateAsync(string deviceId, DeviceUpdate update, CancellationToken cancellationToken = default);

    /// <summary>Enables or disables a device. Disabling closes its connections and refuses new ones.</summary>
    Task<Device> SetStatusAsync(string deviceId, DeviceStatus status, CancellationToken cancellationToken = default);

    /// <summary>Deletes a device and revokes its credentials.</summary>
    /// <exception cref="DeviceNotFoundException">No such device.</exception>
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
}
