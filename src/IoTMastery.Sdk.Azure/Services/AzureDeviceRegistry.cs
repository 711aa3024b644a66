using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// The neutral registry over IoT Hub identities and twins. Attributes are twin tags; <see cref="Device.Version"/> is the
/// twin version. Symmetric keys are the hub's SAS keys (slots <c>sas-primary</c>/<c>sas-secondary</c>); X.509 credentials
/// are self-signed certificates registered by SHA-256 thumbprint, or, with a configured CA, CA-signed certificates.
/// </summary>
internal sealed partial class AzureDeviceRegistry : IDeviceRegistry
{
    private readonly IotHubServiceClient _hub;
    private readonly LocalCertificateAuthority? _ca;
    private readonly TimeProvider _time;
    private readonly AzurePresenceService _presence;

    public AzureDeviceRegistry(IotHubServiceClient hub, LocalCertificateAuthority? ca, TimeProvider time, AzurePresenceService presence)
    {
        _hub = hub;
        _ca = ca;
        _time = time;
        _presence = presence;
    }

    public async Task<DeviceRegistrationResult> RegisterAsync(DeviceRegistration registration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registration);
        DeviceIdRules.Azure.Validate(registration.Id, nameof(registration));
        foreach (var name in registration.Attributes.Keys) TwinMapping.ValidateAttributeName(name, nameof(registration));
        var request = registration.Credential;
        ValidateRequest(request);

        var (authentication, issued) = NewAuthentication(registration.Id, request, generateKeys: false);

        // No status: the hub enables new devices, and the official SDK sends none.
        var body = new JsonObject { ["deviceId"] = registration.Id, ["authentication"] = authentication };
        var created = await _hub.CreateDeviceIdentityAsync(body, cancellationToken).ConfigureAwait(false);
        if (request?.Kind == CredentialKind.SymmetricKey)
        {
            var key = TwinMapping.Text(created["authentication"]?["symmetricKey"]?["primaryKey"])
                ?? throw new IoTException(IoTErrorKind.Unknown, $"IoT Hub created device '{registration.Id}' without returning its key.", IotHubErrors.Provider, "MissingKey");
            issued = new IssuedCredential(new CredentialInfo { Id = TwinMapping.SasPrimary, Kind = CredentialKind.SymmetricKey }, symmetricKey: key);
        }

        JsonObject twin;
        if (registration.Attributes.Count > 0)
        {
            var tags = new JsonObject();
            foreach (var (k, v) in registration.Attributes) tags[k] = v;
            twin = await _hub.UpdateTwinAsync(registration.Id, new JsonObject { ["tags"] = tags }, null, cancellationToken).ConfigureAwait(false);
        }
        else
            twin = await _hub.GetTwinAsync(registration.Id, cancellationToken).ConfigureAwait(false);
        return new DeviceRegistrationResult(TwinMapping.ToDevice(twin), issued);
    }

    /// <summary>
    /// Registers many devices with IoT Hub's bulk identity operation (<c>POST /devices</c>, <c>importMode: create</c>, at most
    /// 100 per request), attributes as twin tags in the same entry. SAS keys are generated here, because the bulk answer
    /// returns no identities. Each created device's twin is then read back (an idempotent GET) for its record. A chunk whose
    /// request fails outright reports that error for each of its devices; it is not resent (creates are not idempotent).
    /// </summary>
    public async Task<IReadOnlyList<BulkRegistrationItem>> RegisterManyAsync(IReadOnlyList<DeviceRegistration> registrations, CancellationToken cancellationToken = default)
    {
        BulkRegistration.Validate(registrations);
        var items = new BulkRegistrationItem?[registrations.Count];
        var entries = new List<(int Index, JsonObject Entry, IssuedCredential? Issued)>(registrations.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < registrations.Count; i++)
        {
            var registration = registrations[i];
            try
            {
                if (BulkRegistration.ItemError(registration, i, DeviceIdRules.Azure, seen) is { } invalid) throw invalid;
                foreach (var name in registration.Attributes.Keys) TwinMapping.ValidateAttributeName(name, nameof(registrations));
                ValidateRequest(registration.Credential);
                var (authentication, issued) = NewAuthentication(registration.Id, registration.Credential, generateKeys: true);
                var tags = new JsonObject();
                foreach (var (k, v) in registration.Attributes) tags[k] = v;
                entries.Add((i, new JsonObject { ["id"] = registration.Id, ["importMode"] = "create", ["authentication"] = authentication, ["tags"] = tags }, issued));
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
            {
                items[i] = BulkRegistration.Failed(registration, i, ex);
            }
        }

        foreach (var chunk in entries.Chunk(IotHubServiceClient.MaxBulkDevices))
        {
            BulkRegistryResult answer;
            try
            {
                answer = await _hub.BulkAsync(chunk.Select(e => e.Entry), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IoTException or OperationCanceledException)
            {
                foreach (var e in chunk) items[e.Index] = BulkRegistration.Failed(registrations[e.Index], e.Index, ex);
                continue;
            }
            var errors = answer.Errors.GroupBy(e => e.DeviceId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            await Parallel.ForEachAsync(chunk, new ParallelOptions { MaxDegreeOfParallelism = BulkRegistration.DefaultConcurrency }, async (e, _) =>
            {
                var registration = registrations[e.Index];
                if (errors.TryGetValue(registration.Id, out var error))
                {
                    items[e.Index] = BulkRegistration.Failed(registration, e.Index, BulkItemException(error));
                    return;
                }
                try
                {
                    var twin = await _hub.GetTwinAsync(registration.Id, cancellationToken).ConfigureAwait(false);
                    items[e.Index] = new BulkRegistrationItem { Index = e.Index, DeviceId = registration.Id, Registration = new DeviceRegistrationResult(TwinMapping.ToDevice(twin), e.Issued) };
                }
                catch (Exception ex) when (ex is IoTException or OperationCanceledException)
                {
                    // Created, but its record could not be read: reported as the read's error, so the caller can look it up.
                    items[e.Index] = BulkRegistration.Failed(registration, e.Index, ex);
                }
            }).ConfigureAwait(false);
        }
        return items!;
    }

    private static IoTException BulkItemException(BulkDeviceError error)
    {
        var message = $"IoT Hub did not create device '{ErrorText.Escape(error.DeviceId)}': {error.ErrorCode} {ErrorText.Escape(error.ErrorStatus, 200)}".TrimEnd();
        return error.ErrorCode == "DeviceAlreadyExists"
            ? new IoTException(IoTErrorKind.AlreadyExists, message, IotHubErrors.Provider, error.ErrorCode)
            : new IoTException(IoTErrorKind.Unknown, message, IotHubErrors.Provider, error.ErrorCode);
    }

    /// <summary>
    /// The identity's <c>authentication</c> for a new device and the credential to hand it. With <paramref name="generateKeys"/>
    /// the SAS keys are made here (a bulk create returns no keys); otherwise they are left empty for the hub to generate.
    /// </summary>
    private (JsonObject Authentication, IssuedCredential? Issued) NewAuthentication(string deviceId, CredentialRequest? request, bool generateKeys)
    {
        switch (request?.Kind)
        {
            case null:
            case CredentialKind.SymmetricKey when !generateKeys:
                // Empty keys: the hub generates them, exactly as the official SDK registers a SAS device.
                return (new JsonObject { ["type"] = "sas", ["symmetricKey"] = new JsonObject { ["primaryKey"] = "", ["secondaryKey"] = "" } }, null);
            case CredentialKind.SymmetricKey:
            {
                // 32 random bytes, as the hub's own keys.
                var primary = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
                var secondary = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
                var authentication = new JsonObject { ["type"] = "sas", ["symmetricKey"] = new JsonObject { ["primaryKey"] = primary, ["secondaryKey"] = secondary } };
                return (authentication, new IssuedCredential(new CredentialInfo { Id = TwinMapping.SasPrimary, Kind = CredentialKind.SymmetricKey }, symmetricKey: primary));
            }
            case CredentialKind.X509Certificate when _ca is not null:
                return (new JsonObject { ["type"] = "certificateAuthority" }, _ca.IssueDeviceCertificate(deviceId, request));
            case CredentialKind.X509Certificate:
            {
                var certificate = X509Material.CreateSelfSigned(deviceId, request, _time);
                var authentication = new JsonObject
                {
                    ["type"] = "selfSigned",
                    ["x509Thumbprint"] = new JsonObject { ["primaryThumbprint"] = certificate.Thumbprint, ["secondaryThumbprint"] = null },
                };
                return (authentication, certificate.ToIssued());
            }
            default:
                throw new NotSupportedException("Azure IoT Hub devices authenticate with SAS keys or X.509 certificates; PublicKey (JWT) credentials are not supported.");
        }
    }

    public async Task<Device> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        return TwinMapping.ToDevice(await _hub.GetTwinAsync(deviceId, cancellationToken).ConfigureAwait(false));
    }

    public IoTPageable<Device> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new DeviceQuery();
        var sql = BuildQuery(query);
        return QueryPageable(_hub, "devices", query, sql, TwinMapping.ToDevice, cancellationToken);
    }

    /// <summary>
    /// A twin query listing: the cursor is the hub's <c>x-ms-continuation</c> header, so a token resumes the hub's own query.
    /// Shared with presence, which reads other fields of the same twins.
    /// </summary>
    internal static IoTPageable<T> QueryPageable<T>(IotHubServiceClient hub, string kind, DeviceQuery query, string sql, Func<JsonObject, T> map, CancellationToken cancellationToken) =>
        new CursorPageable<T>(PageScope.Of(kind, "azure", query), query.PageSize, async (continuation, size, ct) =>
        {
            var page = await hub.QueryPageAsync(sql, size, continuation, ct).ConfigureAwait(false);
            return (page.Items.Select(map).ToList(), page.ContinuationToken);
        }, cursorIsValid: null, cancellationToken);

    public async Task<Device> UpdateAsync(string deviceId, IReadOnlyDictionary<string, string?> attributes, long? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(attributes);
        foreach (var name in attributes.Keys) TwinMapping.ValidateAttributeName(name, nameof(attributes));
        string? etag = null;
        if (expectedVersion is { } expected)
        {
            var current = await _hub.GetTwinAsync(deviceId, cancellationToken).ConfigureAwait(false);
            var version = TwinMapping.Long(current["version"]);
            if (version != expected)
                throw IoTException.PreconditionFailed($"Device '{deviceId}' is at version {version}, not {expected}.", IotHubErrors.Provider, "412001", version);
            // The twin ETag guards the gap between this read and the write.
            etag = TwinMapping.Text(current["etag"]);
        }
        var tags = new JsonObject();
        foreach (var (k, v) in attributes) tags[k] = v;
        var twin = await _hub.UpdateTwinAsync(deviceId, new JsonObject { ["tags"] = tags }, etag, cancellationToken).ConfigureAwait(false);
        return TwinMapping.ToDevice(twin);
    }

    public Task<Device> EnableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        SetEnabledAsync(deviceId, enabled: true, cancellationToken);

    public Task<Device> DisableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        SetEnabledAsync(deviceId, enabled: false, cancellationToken);

    private async Task<Device> SetEnabledAsync(string deviceId, bool enabled, CancellationToken cancellationToken)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        var identity = await _hub.GetDeviceIdentityAsync(deviceId, cancellationToken).ConfigureAwait(false);
        identity["status"] = enabled ? "enabled" : "disabled";
        await _hub.UpdateDeviceIdentityAsync(identity, TwinMapping.Text(identity["etag"]), cancellationToken).ConfigureAwait(false);
        return await GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        await _hub.DeleteDeviceIdentityAsync(deviceId, null, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IssuedCredential> IssueCredentialAsync(string deviceId, CredentialRequest request, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(request);
        ValidateRequest(request);
        var identity = await _hub.GetDeviceIdentityAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var type = TwinMapping.Text(identity["authentication"]?["type"]);
        switch (request.Kind)
        {
            case CredentialKind.SymmetricKey when type == "sas":
                return await ReplaceKeyAsync(identity, TwinMapping.SasSecondary, returnKey: true, cancellationToken).ConfigureAwait(false);
            case CredentialKind.X509Certificate when type == "selfSigned":
                var thumbprints = identity["authentication"]!["x509Thumbprint"] as JsonObject ?? [];
                var slot = !TwinMapping.IsThumbprint(TwinMapping.Text(thumbprints["primaryThumbprint"])) ? "primaryThumbprint"
                    : !TwinMapping.IsThumbprint(TwinMapping.Text(thumbprints["secondaryThumbprint"])) ? "secondaryThumbprint"
                    : throw new IoTException(IoTErrorKind.AlreadyExists, $"Device '{deviceId}' already has two certificate thumbprints; rotate or revoke one first.", IotHubErrors.Provider, "ThumbprintSlotsFull");
                return await ReplaceThumbprintAsync(identity, slot, request, cancellationToken).ConfigureAwait(false);
            case CredentialKind.X509Certificate when type == "certificateAuthority" && _ca is not null:
                // CA devices accept any certificate chaining to the verified CA: nothing to register.
                return _ca.IssueDeviceCertificate(deviceId, request);
            default:
                throw new NotSupportedException($"Device '{deviceId}' authenticates with '{type}'; IoT Hub keeps keys and thumbprints mutually exclusive, so a {request.Kind} credential cannot be added.");
        }
    }

    public async Task<IssuedCredential> RotateCredentialAsync(string deviceId, string credentialId, CredentialRequest? request = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        ArgumentException.ThrowIfNullOrEmpty(credentialId);
        var identity = await _hub.GetDeviceIdentityAsync(deviceId, cancellationToken).ConfigureAwait(false);
        if (credentialId is TwinMapping.SasPrimary or TwinMapping.SasSecondary)
            return await ReplaceKeyAsync(identity, credentialId, returnKey: true, cancellationToken).ConfigureAwait(false);
        var slot = FindThumbprintSlot(identity, credentialId, deviceId);
        request ??= CredentialRequest.X509;
        ValidateRequest(request);
        return await ReplaceThumbprintAsync(identity, slot, request, cancellationToken).ConfigureAwait(false);
    }

    public async Task RevokeCredentialAsync(string deviceId, string credentialId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        ArgumentException.ThrowIfNullOrEmpty(credentialId);
        var identity = await _hub.GetDeviceIdentityAsync(deviceId, cancellationToken).ConfigureAwait(false);
        if (credentialId is TwinMapping.SasPrimary or TwinMapping.SasSecondary)
        {
            // A SAS slot cannot be empty: overwrite it with a key nobody ever sees.
            await ReplaceKeyAsync(identity, credentialId, returnKey: false, cancellationToken).ConfigureAwait(false);
            await EndLiveSessionsAsync(deviceId, cancellationToken).ConfigureAwait(false);
            return;
        }
        var slot = FindThumbprintSlot(identity, credentialId, deviceId);
        var thumbprints = (JsonObject)identity["authentication"]!["x509Thumbprint"]!;
        if (slot == "primaryThumbprint")
        {
            // As on the other providers, revoking the last credential is allowed: the device then cannot connect until a new
            // one is issued. The hub needs a primary thumbprint, so an unmatchable one takes the slot (and is not listed).
            var secondary = TwinMapping.Text(thumbprints["secondaryThumbprint"]);
            thumbprints["primaryThumbprint"] = TwinMapping.IsThumbprint(secondary) ? secondary : TwinMapping.RevokedThumbprint;
        }
        thumbprints["secondaryThumbprint"] = null;
        await _hub.UpdateDeviceIdentityAsync(identity, TwinMapping.Text(identity["etag"]), cancellationToken).ConfigureAwait(false);
        await EndLiveSessionsAsync(deviceId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The statusReason that marks a device the registry disabled only to end its sessions after a revocation.</summary>
    internal const string RevocationStatusReason = "iotmastery: ending sessions of a revoked credential";

    /// <summary>How long a revocation waits for the hub to report the device disconnected before enabling it again.</summary>
    internal static readonly TimeSpan RevocationDisconnectWait = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan RevocationPollInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// IoT Hub checks keys and thumbprints only at CONNECT: a session opened with a credential outlives its removal from the
    /// identity (a SAS session until its token expires, an X.509 session indefinitely). Disabling a device is what closes its
    /// connections, and the hub documents disabling as the way to cut off a compromised device (it checks no CRLs). So a
    /// revocation of an enabled device disables it (statusReason marks why), waits, bounded, until the hub reports it
    /// Disconnected, and enables it again; the device's other credentials then reconnect, the revoked one cannot.
    /// </summary>
    private async Task EndLiveSessionsAsync(string deviceId, CancellationToken cancellationToken)
    {
        JsonObject identity;
        for (var attempt = 0; ; attempt++)
        {
            identity = await _hub.GetDeviceIdentityAsync(deviceId, cancellationToken).ConfigureAwait(false);
            // A device already disabled has no session left to end, and its status is not ours to change.
            if (TwinMapping.Text(identity["status"]) != "enabled") return;
            identity["status"] = "disabled";
            identity["statusReason"] = RevocationStatusReason;
            try
            {
                // Guarded by the ETag, so a concurrent write (say, an operator disabling the device) is never overwritten.
                identity = await _hub.UpdateDeviceIdentityAsync(identity, TwinMapping.Text(identity["etag"]), cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.PreconditionFailed && attempt < 2)
            {
            }
        }
        // From here the device is disabled by us: enabling it again must not be skipped because the caller gave up.
        var restore = CancellationToken.None;
        // Counted polls rather than a clock deadline: bounded whatever clock is injected.
        var polls = (int)(RevocationDisconnectWait / RevocationPollInterval);
        for (var poll = 0; TwinMapping.Text(identity["connectionState"]) == "Connected" && poll < polls; poll++)
        {
            await Task.Delay(RevocationPollInterval, _time, restore).ConfigureAwait(false);
            identity = await _hub.GetDeviceIdentityAsync(deviceId, restore).ConfigureAwait(false);
        }
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (TwinMapping.Text(identity["status"]) != "disabled" || TwinMapping.Text(identity["statusReason"]) != RevocationStatusReason) return;
            identity["status"] = "enabled";
            identity["statusReason"] = null;
            try
            {
                await _hub.UpdateDeviceIdentityAsync(identity, TwinMapping.Text(identity["etag"]), restore).ConfigureAwait(false);
                return;
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.PreconditionFailed)
            {
                // Someone wrote the identity meanwhile; enable it only if it is still disabled for this revocation.
                identity = await _hub.GetDeviceIdentityAsync(deviceId, restore).ConfigureAwait(false);
            }
        }
        if (TwinMapping.Text(identity["status"]) == "disabled" && TwinMapping.Text(identity["statusReason"]) == RevocationStatusReason)
            throw new IoTException(IoTErrorKind.Unknown, $"The credential of device '{deviceId}' is revoked, but the device, disabled to end its sessions, could not be enabled again " +
                "because its identity kept changing; its statusReason says so. Enable it with EnableAsync.", IotHubErrors.Provider, "RevocationRestoreFailed", isTransient: false);
    }

    internal static string BuildQuery(DeviceQuery query)
    {
        if (query.PageSize is < 1 or > 1000)
            throw new ArgumentOutOfRangeException(nameof(query), query.PageSize, "PageSize must be between 1 and 1000.");
        if (query.AttributeValue is not null && query.AttributeName is null)
            throw new ArgumentException("AttributeValue needs AttributeName.", nameof(query));
        var conditions = new List<string>();
        if (query.Enabled is { } enabled) conditions.Add(enabled ? "status = 'enabled'" : "status = 'disabled'");
        if (query.AttributeName is { } name)
        {
            TwinMapping.ValidateAttributeName(name, nameof(query));
            if (name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c == '_')))
                throw new ArgumentException("Attribute names used in a query must be A-Z a-z 0-9 _.", nameof(query));
            if (query.AttributeValue is { } value)
            {
                if (value.Contains('\'', StringComparison.Ordinal) || value.Any(char.IsControl))
                    throw new ArgumentException("Attribute values used in a query must not contain quotes or control characters.", nameof(query));
                conditions.Add($"tags.{name} = '{value}'");
            }
            else
                conditions.Add($"is_defined(tags.{name})");
        }
        return "SELECT * FROM devices" + (conditions.Count == 0 ? "" : " WHERE " + string.Join(" AND ", conditions));
    }

    private async Task<IssuedCredential> ReplaceKeyAsync(JsonObject identity, string slot, bool returnKey, CancellationToken cancellationToken)
    {
        var deviceId = TwinMapping.Text(identity["deviceId"])!;
        if (TwinMapping.Text(identity["authentication"]?["type"]) != "sas")
            throw new NotSupportedException($"Device '{deviceId}' does not authenticate with SAS keys.");
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var symmetric = identity["authentication"]!["symmetricKey"] as JsonObject ?? [];
        identity["authentication"]!["symmetricKey"] = symmetric;
        symmetric[slot == TwinMapping.SasPrimary ? "primaryKey" : "secondaryKey"] = key;
        await _hub.UpdateDeviceIdentityAsync(identity, TwinMapping.Text(identity["etag"]), cancellationToken).ConfigureAwait(false);
        return new IssuedCredential(new CredentialInfo { Id = slot, Kind = CredentialKind.SymmetricKey }, symmetricKey: returnKey ? key : null);
    }

    private async Task<IssuedCredential> ReplaceThumbprintAsync(JsonObject identity, string slot, CredentialRequest request, CancellationToken cancellationToken)
    {
        var deviceId = TwinMapping.Text(identity["deviceId"])!;
        var material = X509Material.CreateSelfSigned(deviceId, request, _time);
        var thumbprints = identity["authentication"]!["x509Thumbprint"] as JsonObject ?? [];
        identity["authentication"]!["x509Thumbprint"] = thumbprints;
        thumbprints[slot] = material.Thumbprint;
        await _hub.UpdateDeviceIdentityAsync(identity, TwinMapping.Text(identity["etag"]), cancellationToken).ConfigureAwait(false);
        return material.ToIssued();
    }

    private static string FindThumbprintSlot(JsonObject identity, string credentialId, string deviceId)
    {
        var thumbprints = identity["authentication"]?["x509Thumbprint"] as JsonObject;
        if (TwinMapping.IsThumbprint(credentialId))
        {
            if (string.Equals(TwinMapping.Text(thumbprints?["primaryThumbprint"]), credentialId, StringComparison.OrdinalIgnoreCase)) return "primaryThumbprint";
            if (string.Equals(TwinMapping.Text(thumbprints?["secondaryThumbprint"]), credentialId, StringComparison.OrdinalIgnoreCase)) return "secondaryThumbprint";
        }
        var hint = TwinMapping.Text(identity["authentication"]?["type"]) == "certificateAuthority"
            ? " It authenticates with any certificate of the verified CA, so IoT Hub holds no per-device credential: disable or delete the device to cut it off."
            : "";
        throw new IoTException(IoTErrorKind.NotFound, $"Device '{ErrorText.Escape(deviceId)}' has no credential '{ErrorText.Escape(credentialId)}'.{hint}", IotHubErrors.Provider, "CredentialNotFound");
    }

    private static void ValidateRequest(CredentialRequest? request)
    {
        if (request is null) return;
        if (!Enum.IsDefined(request.Kind)) throw new ArgumentOutOfRangeException(nameof(request), request.Kind, "Unknown credential kind.");
        if (!Enum.IsDefined(request.Algorithm)) throw new ArgumentOutOfRangeException(nameof(request), request.Algorithm, "Unknown key algorithm.");
        if (request.Validity <= TimeSpan.Zero || request.Validity > TimeSpan.FromDays(3650))
            throw new ArgumentOutOfRangeException(nameof(request), request.Validity, "Validity must be positive and at most 10 years.");
    }

    /// <summary>A self-signed device certificate and its SHA-256 thumbprint (uppercase hex), as IoT Hub registers it.</summary>
    private sealed class X509Material
    {
        private X509Material(string certificatePem, string keyPem, string thumbprint, DateTimeOffset notBefore, DateTimeOffset notAfter)
        {
            CertificatePem = certificatePem;
            KeyPem = keyPem;
            Thumbprint = thumbprint;
            NotBefore = notBefore;
            NotAfter = notAfter;
        }

        public string CertificatePem { get; }
        public string KeyPem { get; }
        public string Thumbprint { get; }
        public DateTimeOffset NotBefore { get; }
        public DateTimeOffset NotAfter { get; }

        public static X509Material CreateSelfSigned(string deviceId, CredentialRequest? request, TimeProvider time)
        {
            request ??= CredentialRequest.X509;
            var now = time.GetUtcNow();
            var notBefore = now.AddMinutes(-5);
            var notAfter = now + request.Validity;
            var subject = new X500DistinguishedName("CN=" + deviceId.Replace(",", "\\,", StringComparison.Ordinal));
            AsymmetricAlgorithm key;
            CertificateRequest csr;
            if (request.Algorithm == KeyAlgorithm.Rsa2048)
            {
                var rsa = RSA.Create(2048);
                key = rsa;
                csr = new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            }
            else
            {
                var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                key = ec;
                csr = new CertificateRequest(subject, ec, HashAlgorithmName.SHA256);
            }
            using (key)
            {
                csr.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
                using var certificate = csr.CreateSelfSigned(notBefore, notAfter);
                var thumbprint = Convert.ToHexString(SHA256.HashData(certificate.RawData));
                return new X509Material(certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), thumbprint, notBefore, notAfter);
            }
        }

        public IssuedCredential ToIssued() =>
            new(new CredentialInfo { Id = Thumbprint, Kind = CredentialKind.X509Certificate, NotBefore = NotBefore, NotAfter = NotAfter }, CertificatePem, KeyPem);
    }
}
