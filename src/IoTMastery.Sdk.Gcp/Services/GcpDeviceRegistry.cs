using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// <see cref="IDeviceRegistry"/> over the Cloud IoT v1 device manager. Credentials are public keys the registry
/// holds (at most 3 per device); the private key is generated here and handed back once. Attributes are device
/// metadata, Disabled is <c>blocked</c>. Devices carry no version in this API, so <see cref="Device.Version"/> is 0
/// and an <c>expectedVersion</c> passed to <see cref="UpdateAsync"/> is refused with <see cref="NotSupportedException"/>.
/// </summary>
internal sealed partial class GcpDeviceRegistry : IDeviceRegistry
{
    private const int MaxCredentials = 3;
    private readonly CloudIotClient _client;
    private readonly TimeProvider _time;
    private readonly GcpPresenceService _presence;

    public GcpDeviceRegistry(CloudIotClient client, TimeProvider time, GcpPresenceService presence)
    {
        _client = client;
        _time = time;
        _presence = presence;
    }

    // The device resource's last heartbeat/event/state times, read with a field mask; no connect events exist.
    public Task<DevicePresence> GetPresenceAsync(string deviceId, CancellationToken cancellationToken = default) =>
        _presence.GetAsync(deviceId, cancellationToken);

    public IoTPageable<DevicePresence> ListPresenceAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) =>
        _presence.ListAsync(query, cancellationToken);

    public IAsyncEnumerable<DevicePresence> ReadPresenceEventsAsync(CancellationToken cancellationToken = default) =>
        _presence.ReadEventsAsync(cancellationToken);

    public long DroppedPresenceEventCount => _presence.DroppedEventCount;

    public async Task<DeviceRegistrationResult> RegisterAsync(DeviceRegistration registration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registration);
        DeviceIdRules.Gcp.Validate(registration.Id, nameof(registration));
        ValidateMetadata(registration.Attributes);
        var body = new JsonObject { ["id"] = registration.Id, ["metadata"] = Metadata(registration.Attributes) };
        (JsonObject Entry, IssuedCredential Issued)? credential = null;
        if (registration.Credential is { } request)
        {
            credential = NewCredential(request);
            body["credentials"] = new JsonArray(credential.Value.Entry);
        }
        var created = await Call(registration.Id, () => _client.CreateDeviceAsync(body, cancellationToken)).ConfigureAwait(false);
        return new DeviceRegistrationResult(ToDevice(created), credential?.Issued);
    }

    public async Task<Device> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        return ToDevice(await Call(deviceId, () => _client.GetDeviceAsync(deviceId, null, cancellationToken)).ConfigureAwait(false));
    }

    public IoTPageable<Device> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) =>
        ListPageable(_client, "devices", query, "blocked,metadata,credentials", ToDevice, cancellationToken);

    /// <summary>
    /// A device listing: the cursor is the v1 list's <c>nextPageToken</c>, so a token resumes the service's own listing. The
    /// v1 list pages at most 500; status and attribute filters are applied to each page here, so a page may be short.
    /// Shared with presence, which asks for other fields of the same devices.
    /// </summary>
    internal static IoTPageable<T> ListPageable<T>(CloudIotClient client, string kind, DeviceQuery? query, string fieldMask,
        Func<JsonObject, T> map, CancellationToken cancellationToken)
    {
        query ??= new DeviceQuery();
        ValidateQuery(query);
        return new CursorPageable<T>(PageScope.Of(kind, "gcp", query), query.PageSize, async (pageToken, size, ct) =>
        {
            var (devices, next) = await client.ListDevicesAsync(Math.Min(size, 500), pageToken, fieldMask: fieldMask, cancellationToken: ct).ConfigureAwait(false);
            return (devices.Where(d => Matches(ToDevice(d), query)).Select(map).ToList(), next);
        }, cursorIsValid: null, cancellationToken);
    }

    public async Task<Device> UpdateAsync(string deviceId, IReadOnlyDictionary<string, string?> attributes, long? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(attributes);
        if (expectedVersion is not null)
            throw new NotSupportedException("Cloud IoT devices carry no record version, so expectedVersion cannot be checked; leave it null.");
        foreach (var (key, value) in attributes) ValidateMetadataEntry(key, value);
        var current = await Call(deviceId, () => _client.GetDeviceAsync(deviceId, "metadata", cancellationToken)).ConfigureAwait(false);
        var metadata = current["metadata"] as JsonObject is { } m ? (JsonObject)m.DeepClone() : new JsonObject();
        foreach (var (key, value) in attributes)
            if (value is null) metadata.Remove(key); else metadata[key] = value;
        ValidateMetadata(metadata.ToDictionary(p => p.Key, p => p.Value!.GetValue<string>()));
        return ToDevice(await Call(deviceId, () => _client.PatchDeviceAsync(deviceId, new JsonObject { ["metadata"] = metadata }, "metadata", cancellationToken)).ConfigureAwait(false));
    }

    public Task<Device> EnableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        SetBlockedAsync(deviceId, blocked: false, cancellationToken);

    public Task<Device> DisableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        SetBlockedAsync(deviceId, blocked: true, cancellationToken);

    private async Task<Device> SetBlockedAsync(string deviceId, bool blocked, CancellationToken cancellationToken)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        return ToDevice(await Call(deviceId, () => _client.SetBlockedAsync(deviceId, blocked, cancellationToken)).ConfigureAwait(false));
    }

    public async Task DeleteAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        await Call(deviceId, async () => { await _client.DeleteDeviceAsync(deviceId, cancellationToken).ConfigureAwait(false); return new JsonObject(); }).ConfigureAwait(false);
    }

    public async Task<IssuedCredential> IssueCredentialAsync(string deviceId, CredentialRequest request, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        var (entry, issued) = NewCredential(request);
        var credentials = await CredentialsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        if (credentials.Count >= MaxCredentials)
            throw new IoTException(IoTErrorKind.QuotaExceeded, $"Device '{deviceId}' already holds {MaxCredentials} credentials, the Cloud IoT maximum; revoke one first.", GoogleApiErrors.Provider, "TooManyCredentials");
        credentials.Add(entry);
        await PatchCredentialsAsync(deviceId, credentials, cancellationToken).ConfigureAwait(false);
        return issued;
    }

    public async Task<IssuedCredential> RotateCredentialAsync(string deviceId, string credentialId, CredentialRequest? request = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        ArgumentException.ThrowIfNullOrEmpty(credentialId);
        var (entry, issued) = NewCredential(request ?? new CredentialRequest { Kind = CredentialKind.PublicKey });
        var credentials = await CredentialsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var old = FindCredential(deviceId, credentials, credentialId);
        // One patch swaps the keys, so a device at the 3-key limit can still rotate.
        credentials.Remove(old);
        credentials.Add(entry);
        await PatchCredentialsAsync(deviceId, credentials, cancellationToken).ConfigureAwait(false);
        return issued;
    }

    public async Task RevokeCredentialAsync(string deviceId, string credentialId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        ArgumentException.ThrowIfNullOrEmpty(credentialId);
        var credentials = await CredentialsAsync(deviceId, cancellationToken).ConfigureAwait(false);
        credentials.Remove(FindCredential(deviceId, credentials, credentialId));
        await PatchCredentialsAsync(deviceId, credentials, cancellationToken).ConfigureAwait(false);
    }

    private static JsonNode FindCredential(string deviceId, JsonArray credentials, string credentialId) =>
        credentials.FirstOrDefault(c => c?["publicKey"]?["key"]?.GetValue<string>() is { } key && DeviceKeys.Fingerprint(key) == credentialId)
        ?? throw new IoTException(IoTErrorKind.NotFound, $"Device '{ErrorText.Escape(deviceId)}' has no credential '{ErrorText.Escape(credentialId)}'.", GoogleApiErrors.Provider, "CredentialNotFound");

    private async Task<JsonArray> CredentialsAsync(string deviceId, CancellationToken cancellationToken)
    {
        var device = await Call(deviceId, () => _client.GetDeviceAsync(deviceId, "credentials", cancellationToken)).ConfigureAwait(false);
        return device["credentials"] is JsonArray a ? (JsonArray)a.DeepClone() : [];
    }

    private Task<JsonObject> PatchCredentialsAsync(string deviceId, JsonArray credentials, CancellationToken cancellationToken) =>
        Call(deviceId, () => _client.PatchDeviceAsync(deviceId, new JsonObject { ["credentials"] = credentials }, "credentials", cancellationToken));

    private (JsonObject Entry, IssuedCredential Issued) NewCredential(CredentialRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Enum.IsDefined(request.Kind)) throw new ArgumentOutOfRangeException(nameof(request), request.Kind, "Unknown credential kind.");
        if (request.Kind != CredentialKind.PublicKey)
            throw new NotSupportedException($"The Gcp provider issues {nameof(CredentialKind.PublicKey)} credentials only (devices sign JWTs); {request.Kind} is not supported.");
        if (request.Validity <= TimeSpan.Zero || request.Validity > TimeSpan.FromDays(3650))
            throw new ArgumentOutOfRangeException(nameof(request), request.Validity, "Validity must be positive and at most 10 years.");
        var (publicPem, privatePem, format) = DeviceKeys.Generate(request.Algorithm);
        var now = _time.GetUtcNow();
        var expires = TruncateToSeconds(now + request.Validity);
        var info = new CredentialInfo { Id = DeviceKeys.Fingerprint(publicPem), Kind = CredentialKind.PublicKey, NotBefore = now, NotAfter = expires };
        return (CloudIotClient.PublicKeyCredential(publicPem, format, expires), new IssuedCredential(info, privateKeyPem: privatePem, publicKeyPem: publicPem));
    }

    private static DateTimeOffset TruncateToSeconds(DateTimeOffset t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);

    /// <summary>Runs a registry call, turning NOT_FOUND into <see cref="IoTErrorKind.DeviceNotFound"/>.</summary>
    internal static async Task<JsonObject> Call(string deviceId, Func<Task<JsonObject>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.Kind == IoTErrorKind.NotFound)
        {
            throw IoTException.DeviceNotFound(deviceId, GoogleApiErrors.Provider, ex.ErrorCode, ex);
        }
    }

    /// <summary>The neutral device of a Cloud IoT device resource.</summary>
    /// <exception cref="IoTException"><c>INVALID_RESPONSE</c>: a field is missing or of the wrong type, or a key is not PEM.</exception>
    internal static Device ToDevice(JsonObject d)
    {
        try
        {
            return ToDeviceCore(d);
        }
        // A wrong-typed field (InvalidOperationException), a non-PEM or non-base64 key (ArgumentException, FormatException) used to escape as is.
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new IoTException(IoTErrorKind.Unknown, "Cloud IoT sent a malformed device resource: " + ex.Message, GoogleApiErrors.Provider, "INVALID_RESPONSE", isTransient: false, innerException: ex);
        }
    }

    private static Device ToDeviceCore(JsonObject d)
    {
        var attributes = (d["metadata"] as JsonObject)?.ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? "", StringComparer.Ordinal) ?? [];
        var credentials = (d["credentials"] as JsonArray ?? []).Select(c => new CredentialInfo
        {
            Id = DeviceKeys.Fingerprint(c?["publicKey"]?["key"]?.GetValue<string>() ?? ""),
            Kind = CredentialKind.PublicKey,
            NotAfter = c?["expirationTime"]?.GetValue<string>() is { Length: > 0 } e && DateTimeOffset.TryParse(e, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) && t.Year > 1970 ? t : DateTimeOffset.MaxValue,
        }).ToList();
        return new Device
        {
            Id = d["id"]?.GetValue<string>() is { Length: > 0 } id ? id : throw new FormatException("The device resource has no id."),
            Enabled = d["blocked"]?.GetValue<bool>() != true,
            Attributes = attributes,
            Credentials = credentials,
        };
    }

    internal static bool Matches(Device d, DeviceQuery q) =>
        (q.Enabled is null || d.Enabled == q.Enabled) &&
        (q.AttributeName is null || (d.Attributes.TryGetValue(q.AttributeName, out var v) && (q.AttributeValue is null || v == q.AttributeValue)));

    internal static void ValidateQuery(DeviceQuery q)
    {
        if (q.PageSize is < 1 or > 1000) throw new ArgumentOutOfRangeException(nameof(q), q.PageSize, "PageSize must be between 1 and 1000.");
        if (q.AttributeValue is not null && q.AttributeName is null) throw new ArgumentException("AttributeValue needs AttributeName.", nameof(q));
    }

    private static JsonObject Metadata(IReadOnlyDictionary<string, string> attributes)
    {
        var o = new JsonObject();
        foreach (var (k, v) in attributes) o[k] = v;
        return o;
    }

    // Cloud IoT metadata: ≤ 500 pairs, key [a-zA-Z][a-zA-Z0-9-_]{0,127}, value ≤ 32 KB, total ≤ 256 KB.
    private static void ValidateMetadata(IReadOnlyDictionary<string, string> attributes)
    {
        ArgumentNullException.ThrowIfNull(attributes);
        if (attributes.Count > 500) throw new ArgumentException($"A device has at most 500 metadata pairs; got {attributes.Count}.", nameof(attributes));
        long total = 0;
        foreach (var (k, v) in attributes)
        {
            ValidateMetadataEntry(k, v);
            total += k.Length + System.Text.Encoding.UTF8.GetByteCount(v);
        }
        if (total > 256 * 1024) throw new ArgumentException($"Device metadata is at most 262144 bytes in total; got {total}.", nameof(attributes));
    }

    private static void ValidateMetadataEntry(string key, string? value)
    {
        if (key is null || !MetadataKey().IsMatch(key))
            throw new ArgumentException($"Metadata key '{key}' must start with a letter and have 1-128 characters of A-Z a-z 0-9 - _.", "attributes");
        if (value is not null && System.Text.Encoding.UTF8.GetByteCount(value) > 32 * 1024)
            throw new ArgumentException($"Metadata value of '{key}' is over 32768 bytes.", "attributes");
    }

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex MetadataKey();
}
