using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// The Local provider's device registry on <see cref="LocalStore"/>, issuing X.509 credentials from
/// the local CA. It is also the broker's <see cref="IDeviceAccessPolicy"/>. Every input is checked
/// before the database is touched. Thread-safe.
/// </summary>
internal sealed partial class LocalDeviceRegistry : IDeviceRegistry, IDeviceAccessPolicy
{
    /// <summary>Most attributes a device may have.</summary>
    public const int MaxAttributes = 64;

    /// <summary>Longest attribute name.</summary>
    public const int MaxAttributeNameLength = 128;

    /// <summary>Longest attribute value.</summary>
    public const int MaxAttributeValueLength = 1024;

    private const string Provider = "Local";
    private static readonly DeviceIdRules Rules = DeviceIdRules.Local;

    private readonly LocalStore _store;
    private readonly LocalCertificateAuthority _ca;
    private readonly IDeviceMessageBus _bus;
    private readonly TimeProvider _time;
    private readonly ObservedPresence _presence;

    /// <summary>Creates the registry.</summary>
    /// <param name="store">The database.</param>
    /// <param name="certificateAuthority">Issues device certificates; load it with <see cref="LocalStore.LoadOrCreateCertificateAuthorityAsync"/> so it survives restarts.</param>
    /// <param name="bus">Closes live sessions after revocation, disabling or deletion.</param>
    /// <param name="timeProvider">The clock; defaults to the system clock.</param>
    /// <param name="presence">The broker's sessions (what presence answers from); defaults to an empty table no broker feeds.</param>
    public LocalDeviceRegistry(LocalStore store, LocalCertificateAuthority certificateAuthority, IDeviceMessageBus bus, TimeProvider? timeProvider = null,
        PresenceTable? presence = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(certificateAuthority);
        ArgumentNullException.ThrowIfNull(bus);
        _store = store;
        _ca = certificateAuthority;
        _bus = bus;
        _time = timeProvider ?? TimeProvider.System;
        // The broker sees every session, so presence is exact: a device with no session is disconnected, never unknown.
        _presence = new ObservedPresence(Rules, presence ?? new PresenceTable(_time), static () => true, "", unknown: false, TimeSpan.Zero);
    }

    /// <summary>The firmware-only restrictions, forgotten with a deleted device; set before the registry is used.</summary>
    internal FirmwareRestrictions? Restrictions { get; init; }

    /// <inheritdoc />
    public Task<DevicePresence> GetPresenceAsync(string deviceId, CancellationToken cancellationToken = default) =>
        _presence.GetAsync(this, deviceId, cancellationToken);

    /// <inheritdoc />
    public IoTPageable<DevicePresence> ListPresenceAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) =>
        _presence.ListAsync(this, query, cancellationToken);

    /// <inheritdoc />
    public IAsyncEnumerable<DevicePresence> ReadPresenceEventsAsync(CancellationToken cancellationToken = default) =>
        _presence.ReadEventsAsync(cancellationToken);

    /// <inheritdoc />
    public long DroppedPresenceEventCount => _presence.DroppedEventCount;

    /// <inheritdoc />
    public async Task<DeviceRegistrationResult> RegisterAsync(DeviceRegistration registration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registration);
        Rules.Validate(registration.Id, nameof(registration.Id));
        ValidateAttributes(registration.Attributes, nameof(registration.Attributes));
        if (registration.Credential is { } request)
            ValidateCredentialRequest(request);

        // Key generation is slow CPU work: keep it outside the write lock.
        var issued = registration.Credential is { } credentialRequest ? _ca.IssueDeviceCertificate(registration.Id, credentialRequest) : null;
        var now = _time.GetUtcNow();
        var device = await _store.WriteAsync(async (c, tx, ct) =>
        {
            await using (var exists = LocalStore.Command(c, tx, "SELECT 1 FROM devices WHERE id = $id", ("$id", registration.Id)))
            {
                if (await exists.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null)
                    throw new IoTException(IoTErrorKind.AlreadyExists, $"Device '{ErrorText.Escape(registration.Id)}' already exists.", Provider, "DeviceAlreadyExists");
            }
            await LocalStore.ExecuteAsync(c, tx, InsertDeviceSql, ct,
                ("$id", registration.Id), ("$status", EnabledText),
                ("$attributes", SerializeAttributes(registration.Attributes)), ("$now", LocalStore.ToDb(now))).ConfigureAwait(false);
            await LocalStore.ExecuteAsync(c, tx, InsertStateSql, ct,
                ("$id", registration.Id)).ConfigureAwait(false);
            if (issued is not null)
                await InsertCredentialAsync(c, tx, registration.Id, issued.Info, ct).ConfigureAwait(false);
            return await ReadDeviceAsync(c, tx, registration.Id, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return new DeviceRegistrationResult(device, issued);
    }

    /// <inheritdoc />
    public Task<Device> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        Rules.Validate(deviceId);
        return _store.ReadAsync((c, ct) => ReadDeviceAsync(c, null, deviceId, ct), cancellationToken);
    }

    /// <inheritdoc />
    public IoTPageable<Device> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new DeviceQuery();
        query.Validate();
        if (query.AttributeName is not null)
            ValidateAttributeName(query.AttributeName, nameof(query.AttributeName));
        // The cursor is the page's last id (the listing is in id order); one that breaks the id rules is refused as forged.
        return new CursorPageable<Device>(PageScope.Of("devices", "local", query), query.PageSize,
            (after, size, ct) => _store.ReadAsync((c, t) => ReadPageAsync(c, query, after, size, t), ct), Rules.IsValid, cancellationToken);
    }

    /// <inheritdoc />
    public Task<Device> UpdateAsync(string deviceId, IReadOnlyDictionary<string, string?> attributes, long? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        Rules.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(attributes);
        if (attributes.Count > MaxAttributes)
            throw new ArgumentException($"A device has at most {MaxAttributes} attributes; the update names {attributes.Count}.", nameof(attributes));
        foreach (var (name, value) in attributes)
            ValidateAttribute(name, value, nameof(attributes));

        return _store.WriteAsync(async (c, tx, ct) =>
        {
            var current = await ReadDeviceAsync(c, tx, deviceId, ct).ConfigureAwait(false);
            if (expectedVersion is { } expected && expected != current.Version)
                throw IoTException.PreconditionFailed(
                    $"Device '{deviceId}' is at version {current.Version}, not the expected {expected}.", Provider, "VersionMismatch", current.Version);
            var merged = new Dictionary<string, string>(current.Attributes, StringComparer.Ordinal);
            foreach (var (name, value) in attributes)
            {
                if (value is null) merged.Remove(name);
                else merged[name] = value;
            }
            if (merged.Count > MaxAttributes)
                throw new ArgumentException($"A device has at most {MaxAttributes} attributes; the update would leave {merged.Count}.", nameof(attributes));
            await LocalStore.ExecuteAsync(c, tx, "UPDATE devices SET attributes = $attributes, version = version + 1 WHERE id = $id", ct,
                ("$attributes", SerializeAttributes(merged)), ("$id", deviceId)).ConfigureAwait(false);
            return await ReadDeviceAsync(c, tx, deviceId, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<Device> EnableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        SetEnabledAsync(deviceId, enabled: true, cancellationToken);

    /// <inheritdoc />
    public Task<Device> DisableAsync(string deviceId, CancellationToken cancellationToken = default) =>
        SetEnabledAsync(deviceId, enabled: false, cancellationToken);

    private async Task<Device> SetEnabledAsync(string deviceId, bool enabled, CancellationToken cancellationToken)
    {
        Rules.Validate(deviceId);
        var device = await _store.WriteAsync(async (c, tx, ct) =>
        {
            // Setting the status it already has is not a change, so the version stays.
            await LocalStore.ExecuteAsync(c, tx,
                "UPDATE devices SET status = $status, version = version + 1 WHERE id = $id AND status <> $status", ct,
                ("$status", DeviceStatusText(enabled)), ("$id", deviceId)).ConfigureAwait(false);
            return await ReadDeviceAsync(c, tx, deviceId, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        if (!enabled)
            await _bus.DisconnectAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return device;
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        Rules.Validate(deviceId);
        await _store.WriteAsync(async (c, tx, ct) =>
        {
            await LocalStore.EnsureDeviceExistsAsync(c, tx, deviceId, ct).ConfigureAwait(false);
            await LocalStore.ExecuteAsync(c, tx, "DELETE FROM credentials WHERE device_id = $id", ct, ("$id", deviceId)).ConfigureAwait(false);
            await LocalStore.ExecuteAsync(c, tx, "DELETE FROM device_state WHERE device_id = $id", ct, ("$id", deviceId)).ConfigureAwait(false);
            // A device registered later under this id starts unrestricted.
            await LocalStore.ExecuteAsync(c, tx, "DELETE FROM firmware_restrictions WHERE device_id = $id", ct, ("$id", deviceId)).ConfigureAwait(false);
            return await LocalStore.ExecuteAsync(c, tx, "DELETE FROM devices WHERE id = $id", ct, ("$id", deviceId)).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        if (Restrictions is { } restrictions) await restrictions.ForgetAsync(deviceId, cancellationToken).ConfigureAwait(false);
        await _bus.DisconnectAsync(deviceId, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IssuedCredential> IssueCredentialAsync(string deviceId, CredentialRequest request, CancellationToken cancellationToken = default)
    {
        Rules.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(request);
        ValidateCredentialRequest(request);
        var issued = _ca.IssueDeviceCertificate(deviceId, request);
        await _store.WriteAsync(async (c, tx, ct) =>
        {
            await LocalStore.EnsureDeviceExistsAsync(c, tx, deviceId, ct).ConfigureAwait(false);
            await InsertCredentialAsync(c, tx, deviceId, issued.Info, ct).ConfigureAwait(false);
            return await BumpVersionAsync(c, tx, deviceId, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return issued;
    }

    /// <inheritdoc />
    public async Task<IssuedCredential> RotateCredentialAsync(string deviceId, string credentialId, CredentialRequest? request = null, CancellationToken cancellationToken = default)
    {
        Rules.Validate(deviceId);
        var oldId = NormalizeCredentialId(credentialId);
        request ??= CredentialRequest.X509;
        ValidateCredentialRequest(request);
        var issued = _ca.IssueDeviceCertificate(deviceId, request);
        await _store.WriteAsync(async (c, tx, ct) =>
        {
            await LocalStore.EnsureDeviceExistsAsync(c, tx, deviceId, ct).ConfigureAwait(false);
            await EnsureCredentialExistsAsync(c, tx, deviceId, oldId, ct).ConfigureAwait(false);
            // New first, then revoke: the device is never left without an active credential.
            await InsertCredentialAsync(c, tx, deviceId, issued.Info, ct).ConfigureAwait(false);
            await LocalStore.ExecuteAsync(c, tx, "UPDATE credentials SET status = $revoked WHERE id = $cid AND device_id = $id", ct,
                ("$revoked", RevokedText), ("$cid", oldId), ("$id", deviceId)).ConfigureAwait(false);
            return await BumpVersionAsync(c, tx, deviceId, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        await _bus.DisconnectAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return issued;
    }

    /// <inheritdoc />
    public async Task RevokeCredentialAsync(string deviceId, string credentialId, CancellationToken cancellationToken = default)
    {
        Rules.Validate(deviceId);
        var id = NormalizeCredentialId(credentialId);
        await _store.WriteAsync(async (c, tx, ct) =>
        {
            await LocalStore.EnsureDeviceExistsAsync(c, tx, deviceId, ct).ConfigureAwait(false);
            await EnsureCredentialExistsAsync(c, tx, deviceId, id, ct).ConfigureAwait(false);
            await LocalStore.ExecuteAsync(c, tx, "UPDATE credentials SET status = $revoked WHERE id = $cid AND device_id = $id", ct,
                ("$revoked", RevokedText), ("$cid", id), ("$id", deviceId)).ConfigureAwait(false);
            return await BumpVersionAsync(c, tx, deviceId, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        // The bus closes every session of the device; one with another active credential simply reconnects.
        await _bus.DisconnectAsync(deviceId, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<bool> CanConnectAsync(string deviceId, string certificateThumbprintSha256, CancellationToken cancellationToken)
    {
        // A CONNECT with garbage is refused, not an error: the broker must not crash on hostile input.
        if (!Rules.IsValid(deviceId) || certificateThumbprintSha256 is not { Length: 64 } || !certificateThumbprintSha256.All(char.IsAsciiHexDigit))
            return false;
        var thumbprint = certificateThumbprintSha256.ToUpperInvariant();
        var now = LocalStore.ToDb(_time.GetUtcNow());
        return await _store.ReadAsync(async (c, ct) =>
        {
            await using var command = LocalStore.Command(c, null,
                """
                SELECT 1 FROM devices d JOIN credentials k ON k.device_id = d.id
                WHERE d.id = $id AND d.status = $enabled AND k.id = $thumbprint AND k.status = $active
                  AND k.not_before <= $now AND k.not_after > $now
                """,
                ("$id", deviceId), ("$enabled", EnabledText), ("$thumbprint", thumbprint),
                ("$active", ActiveText), ("$now", now));
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
        }, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<(IReadOnlyList<Device> Items, string? NextCursor)> ReadPageAsync(SqliteConnection c, DeviceQuery query, string? after, int pageSize, CancellationToken ct)
    {
        var devices = new List<Device>(Math.Min(pageSize, 1000) + 1);
        await using (var command = LocalStore.Command(c, null,
            """
            SELECT id, status, attributes, version, created_at FROM devices
            WHERE ($after IS NULL OR id > $after)
              AND ($status IS NULL OR status = $status)
              AND ($name IS NULL OR EXISTS (SELECT 1 FROM json_each(devices.attributes) a WHERE a.key = $name AND ($value IS NULL OR a.value = $value)))
            ORDER BY id LIMIT $limit
            """,
            ("$after", after), ("$status", query.Enabled is { } enabled ? DeviceStatusText(enabled) : null), ("$name", query.AttributeName), ("$value", query.AttributeValue),
            ("$limit", pageSize + 1)))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                devices.Add(ReadDeviceRow(reader));
        }
        // One extra row tells whether another page exists without a COUNT.
        var more = devices.Count > pageSize;
        if (more) devices.RemoveAt(devices.Count - 1);
        if (devices.Count > 0)
        {
            var credentials = await ReadCredentialsAsync(c, null, devices[0].Id, devices[^1].Id, ct).ConfigureAwait(false);
            for (var i = 0; i < devices.Count; i++)
            {
                if (credentials.TryGetValue(devices[i].Id, out var list))
                    devices[i] = devices[i] with { Credentials = list };
            }
        }
        return (devices, more ? devices[^1].Id : null);
    }

    private static async Task<Device> ReadDeviceAsync(SqliteConnection c, SqliteTransaction? tx, string deviceId, CancellationToken ct)
    {
        Device device;
        await using (var command = LocalStore.Command(c, tx, "SELECT id, status, attributes, version, created_at FROM devices WHERE id = $id", ("$id", deviceId)))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                throw IoTException.DeviceNotFound(deviceId, Provider);
            device = ReadDeviceRow(reader);
        }
        var credentials = await ReadCredentialsAsync(c, tx, deviceId, deviceId, ct).ConfigureAwait(false);
        return credentials.TryGetValue(deviceId, out var list) ? device with { Credentials = list } : device;
    }

    private static Device ReadDeviceRow(SqliteDataReader reader) => new()
    {
        Id = reader.GetString(0),
        Enabled = ParseDeviceStatus(reader.GetString(1)),
        Attributes = DeserializeAttributes(reader.GetString(2)),
        Version = reader.GetInt64(3),
        CreatedAt = LocalStore.FromDb(reader.GetInt64(4)),
    };

    private static async Task<Dictionary<string, List<CredentialInfo>>> ReadCredentialsAsync(SqliteConnection c, SqliteTransaction? tx, string firstDeviceId, string lastDeviceId, CancellationToken ct)
    {
        var result = new Dictionary<string, List<CredentialInfo>>(StringComparer.Ordinal);
        await using var command = LocalStore.Command(c, tx,
            "SELECT device_id, id, kind, status, not_before, not_after FROM credentials WHERE device_id >= $first AND device_id <= $last ORDER BY device_id, not_before, rowid",
            ("$first", firstDeviceId), ("$last", lastDeviceId));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var deviceId = reader.GetString(0);
            if (!result.TryGetValue(deviceId, out var list))
                result[deviceId] = list = [];
            list.Add(new CredentialInfo
            {
                Id = reader.GetString(1),
                Kind = Enum.Parse<CredentialKind>(reader.GetString(2)),
                Revoked = reader.GetString(3) == RevokedText,
                NotBefore = LocalStore.FromDb(reader.GetInt64(4)),
                NotAfter = LocalStore.FromDb(reader.GetInt64(5)),
            });
        }
        return result;
    }

    // The credentials.status column keeps the words the former CredentialStatus enum wrote, so existing stores read unchanged.
    private const string ActiveText = "Active";

    // The devices.status column keeps the words the former DeviceStatus enum wrote, so stores written before
    // Device.Enabled replaced it read unchanged and need no migration.
    private const string EnabledText = "Enabled";
    private const string DisabledText = "Disabled";

    private static string DeviceStatusText(bool enabled) => enabled ? EnabledText : DisabledText;

    private static bool ParseDeviceStatus(string text) => text switch
    {
        EnabledText => true,
        DisabledText => false,
        _ => throw new InvalidDataException($"The local store holds an unknown device status '{ErrorText.Escape(text)}'."),
    };
    private const string RevokedText = "Revoked";

    private static string StatusText(CredentialInfo info) => info.Revoked ? RevokedText : ActiveText;

    // One registration's rows, shared by RegisterAsync and the bulk path so both write the same shape.
    private const string InsertDeviceSql = "INSERT INTO devices (id, status, attributes, version, created_at) VALUES ($id, $status, $attributes, 1, $now)";
    private const string InsertStateSql = "INSERT INTO device_state (device_id, desired, desired_version, reported, reported_version) VALUES ($id, '{}', 0, '{}', 0)";
    private const string InsertCredentialSql = "INSERT INTO credentials (id, device_id, kind, status, not_before, not_after) VALUES ($cid, $id, $kind, $status, $nb, $na)";

    private static Task<int> InsertCredentialAsync(SqliteConnection c, SqliteTransaction tx, string deviceId, CredentialInfo info, CancellationToken ct) =>
        LocalStore.ExecuteAsync(c, tx, InsertCredentialSql, ct,
            ("$cid", info.Id), ("$id", deviceId), ("$kind", info.Kind.ToString()), ("$status", StatusText(info)),
            ("$nb", LocalStore.ToDb(info.NotBefore)), ("$na", LocalStore.ToDb(info.NotAfter)));

    private static async Task EnsureCredentialExistsAsync(SqliteConnection c, SqliteTransaction tx, string deviceId, string credentialId, CancellationToken ct)
    {
        await using var command = LocalStore.Command(c, tx, "SELECT 1 FROM credentials WHERE id = $cid AND device_id = $id", ("$cid", credentialId), ("$id", deviceId));
        if (await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
            throw new IoTException(IoTErrorKind.NotFound, $"Device '{ErrorText.Escape(deviceId)}' has no credential '{ErrorText.Escape(credentialId)}'.", Provider, "CredentialNotFound");
    }

    private static Task<int> BumpVersionAsync(SqliteConnection c, SqliteTransaction tx, string deviceId, CancellationToken ct) =>
        LocalStore.ExecuteAsync(c, tx, "UPDATE devices SET version = version + 1 WHERE id = $id", ct, ("$id", deviceId));

    private static void ValidateCredentialRequest(CredentialRequest request)
    {
        request.Validate();
        if (request.Kind != CredentialKind.X509Certificate)
            throw new NotSupportedException(
                $"The Local provider issues only X.509 certificate credentials (see ProviderCapabilities.CredentialKinds); {request.Kind} is not supported.");
    }

    private static string NormalizeCredentialId(string credentialId)
    {
        ArgumentException.ThrowIfNullOrEmpty(credentialId);
        if (credentialId.Length != 64 || !credentialId.All(char.IsAsciiHexDigit))
            throw new ArgumentException("A Local credential id is a certificate's SHA-256 thumbprint: 64 hex characters.", nameof(credentialId));
        return credentialId.ToUpperInvariant();
    }

    private static void ValidateAttributes(IReadOnlyDictionary<string, string> attributes, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(attributes, parameterName);
        if (attributes.Count > MaxAttributes)
            throw new ArgumentException($"A device has at most {MaxAttributes} attributes; got {attributes.Count}.", parameterName);
        foreach (var (name, value) in attributes)
        {
            ArgumentNullException.ThrowIfNull(value, parameterName);
            ValidateAttribute(name, value, parameterName);
        }
    }

    private static void ValidateAttribute(string name, string? value, string parameterName)
    {
        ValidateAttributeName(name, parameterName);
        if (value is not null && value.Length > MaxAttributeValueLength)
            throw new ArgumentException($"Attribute '{ErrorText.Escape(name)}' is {value.Length} characters; values are at most {MaxAttributeValueLength}.", parameterName);
    }

    private static void ValidateAttributeName(string name, string parameterName)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxAttributeNameLength || name.Any(char.IsControl))
            throw new ArgumentException($"Attribute names are 1-{MaxAttributeNameLength} characters without control characters.", parameterName);
    }

    private static string SerializeAttributes(IEnumerable<KeyValuePair<string, string>> attributes)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in attributes.OrderBy(a => a.Key, StringComparer.Ordinal))
                writer.WriteString(name, value);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static Dictionary<string, string> DeserializeAttributes(string json)
    {
        using var document = JsonDocument.Parse(json);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
            result[property.Name] = property.Value.GetString() ?? "";
        return result;
    }
}
