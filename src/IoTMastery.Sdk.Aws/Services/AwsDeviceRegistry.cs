using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Aws;

/// <summary>
/// Devices as IoT things, credentials as IoT certificates attached to the thing and to the device policy.
/// Things have no enabled flag: disabling deactivates every certificate and marks the thing with a reserved attribute.
/// </summary>
internal sealed partial class AwsDeviceRegistry : IDeviceRegistry
{
    /// <summary>Reserved attribute marking a disabled device (attribute names allow ':').</summary>
    internal const string DisabledAttribute = "iotm:disabled";
    private const string ReservedPrefix = "iotm:";
    private const int AwsMaxResults = 250;

    private readonly IotControlPlane _iot;
    private readonly IotDataPlane _data;
    private readonly DeviceCertificateIssuer _issuer;
    private readonly string _policyName;
    private readonly string? _thingTypeName;
    private readonly ILogger _logger;

    public AwsDeviceRegistry(IotControlPlane iot, IotDataPlane data, DeviceCertificateIssuer issuer, string policyName, string? thingTypeName, ILogger logger,
        ObservedPresence presence)
    {
        _presence = presence;
        _iot = iot;
        _data = data;
        _issuer = issuer;
        _policyName = policyName;
        _thingTypeName = thingTypeName;
        _logger = logger;
    }

    private readonly ObservedPresence _presence;

    // Presence from the service connection's lifecycle events; this registry says which devices exist and pages them.
    public Task<DevicePresence> GetPresenceAsync(string deviceId, CancellationToken cancellationToken = default) =>
        _presence.GetAsync(this, deviceId, cancellationToken);

    public IoTPageable<DevicePresence> ListPresenceAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) =>
        _presence.ListAsync(this, query, cancellationToken);

    public IAsyncEnumerable<DevicePresence> ReadPresenceEventsAsync(CancellationToken cancellationToken = default) =>
        _presence.ReadEventsAsync(cancellationToken);

    public long DroppedPresenceEventCount => _presence.DroppedEventCount;

    private int MaxAttributes => _thingTypeName is null ? 3 : 50;

    public async Task<DeviceRegistrationResult> RegisterAsync(DeviceRegistration registration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registration);
        DeviceIdRules.Aws.Validate(registration.Id, nameof(registration));
        ValidateAttributes(registration.Attributes.ToDictionary(kv => kv.Key, kv => (string?)kv.Value), nameof(registration));
        if (registration.Credential is { } request) _issuer.Validate(request);

        // CreateThing answers 200 for an identical replay, so a thing that exists must be detected first.
        if (await ExistsAsync(registration.Id, cancellationToken).ConfigureAwait(false))
            throw new IoTException(IoTErrorKind.AlreadyExists, $"Device '{registration.Id}' already exists.", AwsIoTProvider.ProviderName, "ResourceAlreadyExistsException");
        await _iot.CreateThingAsync(registration.Id, registration.Attributes, _thingTypeName, cancellationToken).ConfigureAwait(false);
        IssuedCredential? credential = null;
        if (registration.Credential is { } credentialRequest)
            credential = (await IssueAndAttachAsync(registration.Id, credentialRequest, cancellationToken).ConfigureAwait(false)).Credential;
        return new DeviceRegistrationResult(await GetAsync(registration.Id, cancellationToken).ConfigureAwait(false), credential);
    }

    public async Task<Device> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        var thing = await _iot.DescribeThingAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var credentials = new List<CredentialInfo>();
        DateTimeOffset? createdAt = null;
        foreach (var arn in await _iot.ListThingPrincipalsAsync(deviceId, cancellationToken).ConfigureAwait(false))
        {
            if (CertificateId(arn) is not { } certificateId) continue;
            var description = await _iot.DescribeCertificateAsync(certificateId, cancellationToken).ConfigureAwait(false);
            var info = ToCredentialInfo(certificateId, description);
            credentials.Add(info);
            if (Epoch(description["creationDate"]) is { } created && (createdAt is null || created < createdAt)) createdAt = created;
        }
        // Things carry no creation time; the oldest certificate is the best evidence of when the device was provisioned.
        return ToDevice(thing, credentials, createdAt);
    }

    public IoTPageable<Device> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new DeviceQuery();
        if (query.PageSize is < 1 or > 1000)
            throw new ArgumentOutOfRangeException(nameof(query), query.PageSize, "PageSize must be between 1 and 1000.");
        if (query.AttributeValue is not null && query.AttributeName is null)
            throw new ArgumentException("AttributeValue needs AttributeName.", nameof(query));
        // ListThings filters on at most one attribute: the caller's attribute when given, else the reserved disabled
        // attribute for Enabled = false. The enabled filter is then checked per page here, as every other provider allows both
        // filters together; a page may therefore be short.
        var (name, value) = query.AttributeName is not null ? (query.AttributeName, query.AttributeValue)
            : query.Enabled == false ? (DisabledAttribute, "true") : (null, null);
        // The cursor is ListThings' own nextToken, so a token resumes where the service left off.
        return new CursorPageable<Device>(PageScope.Of("devices", "aws", query), query.PageSize, async (nextToken, size, ct) =>
        {
            var page = await _iot.ListThingsAsync(Math.Min(size, AwsMaxResults), nextToken, name, value, ct).ConfigureAwait(false);
            IReadOnlyList<Device> devices = page.Items.OfType<JsonObject>().Select(t => ToDevice(t, [], createdAt: null))
                .Where(d => query.Enabled is not { } enabled || d.Enabled == enabled)
                .ToList();
            return (devices, page.NextToken);
        }, cursorIsValid: null, cancellationToken);
    }

    public async Task<Device> UpdateAsync(string deviceId, IReadOnlyDictionary<string, string?> attributes, long? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(attributes);
        ValidateAttributes(attributes, nameof(attributes));
        if (expectedVersion is < 0)
            throw new ArgumentOutOfRangeException(nameof(expectedVersion), expectedVersion, "expectedVersion must not be negative.");
        // An empty value with merge=true removes the attribute (UpdateThing's documented way to remove one).
        var thingAttributes = attributes.ToDictionary(kv => kv.Key, kv => kv.Value ?? "");
        await _iot.UpdateThingAsync(deviceId, thingAttributes, merge: true, expectedVersion, cancellationToken).ConfigureAwait(false);
        return await GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
    }

    public Task<Device> EnableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        SetEnabledAsync(deviceId, enabled: true, cancellationToken);

    public Task<Device> DisableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        SetEnabledAsync(deviceId, enabled: false, cancellationToken);

    // AWS IoT Core has no per-thing switch: disabling flips the thing's active certificates to INACTIVE (so they are
    // refused at connect) and marks the thing with the reserved attribute that Device.Enabled is read from.
    private async Task<Device> SetEnabledAsync(string deviceId, bool enabled, CancellationToken cancellationToken)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        var device = await GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var (from, to) = enabled ? ("INACTIVE", "ACTIVE") : ("ACTIVE", "INACTIVE");
        foreach (var arn in await _iot.ListThingPrincipalsAsync(deviceId, cancellationToken).ConfigureAwait(false))
        {
            if (CertificateId(arn) is not { } id) continue;
            var description = await _iot.DescribeCertificateAsync(id, cancellationToken).ConfigureAwait(false);
            // Revoked certificates stay revoked; only the active/inactive pair flips.
            if ((string?)description["status"] == from)
                await _iot.UpdateCertificateAsync(id, to, cancellationToken).ConfigureAwait(false);
        }
        if (device.Enabled != enabled)
        {
            var marker = new Dictionary<string, string> { [DisabledAttribute] = enabled ? "" : "true" };
            await _iot.UpdateThingAsync(deviceId, marker, merge: true, null, cancellationToken).ConfigureAwait(false);
        }
        return await GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        // DeleteThing of a missing thing succeeds on AWS; the neutral contract reports it.
        var thing = await _iot.DescribeThingAsync(deviceId, cancellationToken).ConfigureAwait(false);
        foreach (var arn in await _iot.ListThingPrincipalsAsync(deviceId, cancellationToken).ConfigureAwait(false))
        {
            // A certificate cannot be deleted while attached or ACTIVE: detach policy, detach thing, deactivate, delete.
            await _iot.DetachThingPrincipalAsync(deviceId, arn, cancellationToken).ConfigureAwait(false);
            if (CertificateId(arn) is { } id) await DeleteCertificateAsync(id, arn, cancellationToken).ConfigureAwait(false);
        }
        try
        {
            await _data.DeleteThingShadowAsync(deviceId, null, cancellationToken).ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.IsNotFound)
        {
            // No classic shadow was ever written.
        }
        await _iot.DeleteThingAsync(deviceId, (long?)thing["version"], cancellationToken).ConfigureAwait(false);
    }

    public async Task<IssuedCredential> IssueCredentialAsync(string deviceId, CredentialRequest request, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        _issuer.Validate(request);
        await _iot.DescribeThingAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return (await IssueAndAttachAsync(deviceId, request, cancellationToken).ConfigureAwait(false)).Credential;
    }

    public async Task<IssuedCredential> RotateCredentialAsync(string deviceId, string credentialId, CredentialRequest? request = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        ValidateCertificateId(credentialId);
        request ??= CredentialRequest.X509;
        _issuer.Validate(request);
        await RequireAttachedAsync(deviceId, credentialId, cancellationToken).ConfigureAwait(false);
        // New certificate first, so the device is never left without a working one.
        var issued = await IssueAndAttachAsync(deviceId, request, cancellationToken).ConfigureAwait(false);
        await _iot.UpdateCertificateAsync(credentialId, "REVOKED", cancellationToken).ConfigureAwait(false);
        return issued.Credential;
    }

    public async Task RevokeCredentialAsync(string deviceId, string credentialId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        ValidateCertificateId(credentialId);
        await RequireAttachedAsync(deviceId, credentialId, cancellationToken).ConfigureAwait(false);
        // Kept attached so the device's credential list still shows it as revoked; DeleteAsync cleans it up.
        await _iot.UpdateCertificateAsync(credentialId, "REVOKED", cancellationToken).ConfigureAwait(false);
    }

    private async Task<AwsDeviceCertificate> IssueAndAttachAsync(string thingName, CredentialRequest request, CancellationToken ct)
    {
        var certificate = await _issuer.IssueAsync(thingName, request, ct).ConfigureAwait(false);
        try
        {
            await _iot.AttachPolicyAsync(_policyName, certificate.CertificateArn, ct).ConfigureAwait(false);
            await _iot.AttachThingPrincipalAsync(thingName, certificate.CertificateArn, ct).ConfigureAwait(false);
            return certificate;
        }
        catch (Exception ex) when (ex is IoTException or OperationCanceledException)
        {
            // The certificate exists but is unusable: remove it rather than leave an ACTIVE orphan behind.
            Log.AttachFailed(_logger, certificate.CertificateId, thingName, ErrorText.Name(ex));
            try
            {
                await _iot.DetachThingPrincipalAsync(thingName, certificate.CertificateArn, CancellationToken.None).ConfigureAwait(false);
            }
            catch (IoTException) { /* it may never have been attached */ }
            await DeleteCertificateAsync(certificate.CertificateId, certificate.CertificateArn, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private async Task DeleteCertificateAsync(string certificateId, string arn, CancellationToken ct)
    {
        try
        {
            await _iot.DetachPolicyAsync(_policyName, arn, ct).ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.IsNotFound) { /* the policy was never attached */ }
        var description = await _iot.DescribeCertificateAsync(certificateId, ct).ConfigureAwait(false);
        if ((string?)description["status"] == "ACTIVE")
            await _iot.UpdateCertificateAsync(certificateId, "INACTIVE", ct).ConfigureAwait(false);
        await _iot.DeleteCertificateAsync(certificateId, forceDelete: false, ct).ConfigureAwait(false);
    }

    private async Task RequireAttachedAsync(string deviceId, string certificateId, CancellationToken ct)
    {
        var principals = await _iot.ListThingPrincipalsAsync(deviceId, ct).ConfigureAwait(false);
        if (!principals.Any(arn => CertificateId(arn) == certificateId))
            throw new IoTException(IoTErrorKind.NotFound, $"Credential '{ErrorText.Escape(certificateId)}' does not belong to device '{ErrorText.Escape(deviceId)}'.", AwsIoTProvider.ProviderName, "CredentialNotFound");
    }

    private async Task<bool> ExistsAsync(string thingName, CancellationToken ct)
    {
        try
        {
            await _iot.DescribeThingAsync(thingName, ct).ConfigureAwait(false);
            return true;
        }
        catch (IoTException ex) when (ex.Kind == IoTErrorKind.DeviceNotFound)
        {
            return false;
        }
    }

    private void ValidateAttributes(IReadOnlyDictionary<string, string?> attributes, string parameter)
    {
        ArgumentNullException.ThrowIfNull(attributes, parameter);
        foreach (var (name, value) in attributes)
        {
            if (string.IsNullOrEmpty(name) || name.Length > 128 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ',' or '@' or '/' or ':' or '#' or '-'))
                throw new ArgumentException($"Attribute name '{ErrorText.Escape(name)}' must be 1-128 characters of A-Z a-z 0-9 _ . , @ / : # -.", parameter);
            if (name.StartsWith(ReservedPrefix, StringComparison.Ordinal))
                throw new ArgumentException($"Attribute names starting with '{ReservedPrefix}' are reserved by the SDK.", parameter);
            if (value is not null && (value.Length > 800 || !value.All(c => !char.IsControl(c))))
                throw new ArgumentException($"Attribute '{ErrorText.Escape(name)}' must be at most 800 characters without control characters.", parameter);
            if (value is "")
                throw new ArgumentException($"Attribute '{ErrorText.Escape(name)}' has an empty value; AWS treats an empty value as removal, use null.", parameter);
        }
        if (attributes.Count > MaxAttributes)
            throw new ArgumentException($"A thing {(_thingTypeName is null ? "without a thing type" : "with a thing type")} has at most {MaxAttributes} attributes.", parameter);
    }

    private static void ValidateCertificateId(string credentialId)
    {
        if (credentialId is null || credentialId.Length != 64 || !credentialId.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException("An AWS certificate id is 64 lowercase hex characters.", nameof(credentialId));
    }

    /// <summary>The certificate id from arn:aws:iot:{region}:{account}:cert/{id}; null for other principals.</summary>
    internal static string? CertificateId(string arn)
    {
        var marker = arn.LastIndexOf(":cert/", StringComparison.Ordinal);
        return marker < 0 ? null : arn[(marker + 6)..];
    }

    private static Device ToDevice(JsonObject thing, IReadOnlyList<CredentialInfo> credentials, DateTimeOffset? createdAt)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        var disabled = false;
        if (thing["attributes"] is JsonObject attrs)
        {
            foreach (var (k, v) in attrs)
            {
                if (k == DisabledAttribute) disabled = (string?)v == "true";
                else if (!k.StartsWith(ReservedPrefix, StringComparison.Ordinal) && v is not null) attributes[k] = (string?)v ?? "";
            }
        }
        return new Device
        {
            Id = (string?)thing["thingName"] ?? throw new IoTException(IoTErrorKind.Unknown, "A thing without thingName was returned.", AwsIoTProvider.ProviderName, "MalformedResponse"),
            Enabled = !disabled,
            Attributes = attributes,
            Version = (long?)thing["version"] ?? 0,
            CreatedAt = createdAt,
            Credentials = credentials,
        };
    }

    private static CredentialInfo ToCredentialInfo(string id, JsonObject description)
    {
        var validity = description["validity"] as JsonObject;
        return new CredentialInfo
        {
            Id = id,
            Kind = CredentialKind.X509Certificate,
            // INACTIVE (a disabled device) is still a valid credential; only REVOKED is revoked.
            Revoked = (string?)description["status"] == "REVOKED",
            NotBefore = Epoch(validity?["notBefore"]) ?? default,
            NotAfter = Epoch(validity?["notAfter"]) ?? default,
        };
    }

    /// <summary>Control-plane timestamps are epoch seconds as JSON numbers, possibly fractional.</summary>
    internal static DateTimeOffset? Epoch(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue(out double seconds) ? DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(seconds * 1000)) : null;
}
