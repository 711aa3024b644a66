using System.Collections.Immutable;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Local;

/// <summary>Called after a device's reported state changed and was committed.</summary>
/// <param name="deviceId">The device.</param>
/// <param name="patch">The patch the device sent.</param>
/// <param name="state">The device's state after the patch.</param>
/// <param name="cancellationToken">Cancels the reaction.</param>
internal delegate Task ReportedStateListener(string deviceId, JsonObject patch, DeviceState state, CancellationToken cancellationToken);

/// <summary>
/// Desired and reported state on <see cref="LocalStore"/>. Desired changes are JSON merge patches with
/// an optional version check and are published to the device as the retained message
/// <c>{"version":n,"desired":{…}}</c> on <see cref="LocalTopics.DesiredState"/>. Reported patches come
/// from the broker through <see cref="IReportedStateSink"/> and are passed on to listeners (the
/// firmware service). Thread-safe.
/// </summary>
internal sealed partial class LocalStateService : IDeviceStateService, IReportedStateSink
{
    /// <summary>The largest desired or reported document, and the largest patch, in UTF-8 bytes.</summary>
    public const int MaxDocumentBytes = 32 * 1024;

    /// <summary>The deepest nesting of objects and arrays in a desired or reported document or patch (the core's one limit).</summary>
    public const int MaxDocumentDepth = JsonLimits.MaxDocumentDepth;

    private const string Provider = "Local";
    /// <summary>The <see cref="IoTException.ErrorCode"/> of a device whose stored state cannot be read.</summary>
    internal const string StateUnreadable = "StateUnreadable";
    private static readonly DeviceIdRules Rules = DeviceIdRules.Local;

    private readonly LocalStore _store;
    private readonly IDeviceMessageBus _bus;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _publishLock = new(1, 1);
    private ImmutableArray<ReportedStateListener> _listeners = [];

    /// <summary>Creates the service.</summary>
    /// <param name="store">The database.</param>
    /// <param name="bus">Publishes desired state to devices.</param>
    /// <param name="logger">Stored documents that cannot be read; never their content.</param>
    public LocalStateService(LocalStore store, IDeviceMessageBus bus, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(bus);
        _store = store;
        _bus = bus;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Adds a listener for committed reported-state changes; listeners run in order, after the commit.</summary>
    public void AddReportedListener(ReportedStateListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ImmutableInterlocked.Update(ref _listeners, static (list, l) => list.Add(l), listener);
    }

    /// <inheritdoc />
    public Task<DeviceState> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        Rules.Validate(deviceId);
        return _store.ReadAsync((c, ct) => ReadStateAsync(c, null, deviceId, ct), cancellationToken);
    }

    /// <inheritdoc />
    public async Task<DeviceState> UpdateDesiredAsync(string deviceId, JsonObject patch, long? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        Rules.Validate(deviceId);
        ValidatePatch(patch);
        if (expectedVersion is < 0)
            throw new ArgumentOutOfRangeException(nameof(expectedVersion), expectedVersion, "Versions are never negative.");

        var state = await _store.WriteAsync(async (c, tx, ct) =>
        {
            var current = await ReadStateAsync(c, tx, deviceId, ct).ConfigureAwait(false);
            if (expectedVersion is { } expected && expected != current.DesiredVersion)
                throw IoTException.PreconditionFailed(
                    $"The desired state of device '{ErrorText.Escape(deviceId)}' is at version {current.DesiredVersion}, not the expected {expected}.",
                    Provider, "VersionMismatch", current.DesiredVersion);
            var desired = JsonMergePatch.Apply(current.Desired, patch);
            var json = CheckSize(desired, deviceId, "desired");
            await LocalStore.ExecuteAsync(c, tx, "UPDATE device_state SET desired = $doc, desired_version = desired_version + 1 WHERE device_id = $id", ct,
                ("$doc", json), ("$id", deviceId)).ConfigureAwait(false);
            return current with { Desired = desired, DesiredVersion = current.DesiredVersion + 1 };
        }, cancellationToken).ConfigureAwait(false);

        await PublishLatestDesiredAsync(deviceId, cancellationToken).ConfigureAwait(false);
        return state;
    }

    /// <inheritdoc />
    public async Task ApplyReportedAsync(string deviceId, JsonObject patch, CancellationToken cancellationToken)
    {
        Rules.Validate(deviceId);
        ValidatePatch(patch);
        var state = await _store.WriteAsync(async (c, tx, ct) =>
        {
            var current = await ReadStateAsync(c, tx, deviceId, ct).ConfigureAwait(false);
            var reported = JsonMergePatch.Apply(current.Reported, patch);
            var json = CheckSize(reported, deviceId, "reported");
            await LocalStore.ExecuteAsync(c, tx, "UPDATE device_state SET reported = $doc, reported_version = reported_version + 1 WHERE device_id = $id", ct,
                ("$doc", json), ("$id", deviceId)).ConfigureAwait(false);
            return current with { Reported = reported, ReportedVersion = current.ReportedVersion + 1 };
        }, cancellationToken).ConfigureAwait(false);

        foreach (var listener in _listeners)
            await listener(deviceId, patch, state, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Publishes the retained desired document of every device that has one. The broker keeps retained
    /// messages in memory only, so a provider opened on an existing database calls this once at start.
    /// </summary>
    public async Task RepublishDesiredAsync(CancellationToken cancellationToken)
    {
        var ids = await _store.ReadAsync(async (c, ct) =>
        {
            var list = new List<string>();
            await using var command = LocalStore.Command(c, null, "SELECT device_id FROM device_state WHERE desired_version > 0 ORDER BY device_id");
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false)) list.Add(reader.GetString(0));
            return list;
        }, cancellationToken).ConfigureAwait(false);
        foreach (var id in ids)
        {
            try
            {
                await PublishLatestDesiredAsync(id, cancellationToken).ConfigureAwait(false);
            }
            catch (IoTException ex) when (ex.ErrorCode == StateUnreadable)
            {
                // One bad row must not stop the provider: the device reports it on every read until it is deleted.
                Log.StateUnreadable(_logger, id);
            }
        }
    }

    // Publishes whatever is current under a lock, so the retained message never goes back to an older version
    // even when two updates commit and publish in a different order.
    private async Task PublishLatestDesiredAsync(string deviceId, CancellationToken cancellationToken)
    {
        await _publishLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            DeviceState latest;
            try
            {
                latest = await _store.ReadAsync((c, ct) => ReadStateAsync(c, null, deviceId, ct), cancellationToken).ConfigureAwait(false);
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.DeviceNotFound)
            {
                return; // Deleted meanwhile: nothing to deliver.
            }
            var message = new JsonObject { ["version"] = latest.DesiredVersion, ["desired"] = latest.Desired.DeepClone() };
            await _bus.PublishAsync(LocalTopics.DesiredState(deviceId), Encoding.UTF8.GetBytes(message.ToJsonString()), retain: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _publishLock.Release();
        }
    }

    /// <summary>
    /// A stored desired or reported document, or <see langword="null"/> when it cannot be read (written by an older version
    /// that let documents deeper than the reader's limit through, or altered outside the SDK).
    /// </summary>
    internal static JsonObject? TryReadDocument(string json) => StrictJson.TryParseObject(Encoding.UTF8.GetBytes(json));

    /// <summary>Checks a patch against the core's depth limit and this provider's size limit before anything is written.</summary>
    /// <exception cref="ArgumentException">The patch is too deep, too big or not representable as JSON; the message names the limit.</exception>
    private static void ValidatePatch(JsonObject patch)
    {
        ArgumentNullException.ThrowIfNull(patch);
        JsonLimits.Serialize(patch, MaxDocumentBytes, "A state patch", nameof(patch));
    }

    private static async Task<DeviceState> ReadStateAsync(SqliteConnection c, SqliteTransaction? tx, string deviceId, CancellationToken ct)
    {
        await using var command = LocalStore.Command(c, tx,
            "SELECT desired, desired_version, reported, reported_version FROM device_state WHERE device_id = $id", ("$id", deviceId));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            throw IoTException.DeviceNotFound(deviceId, Provider);
        return new DeviceState
        {
            DeviceId = deviceId,
            Desired = TryReadDocument(reader.GetString(0)) ?? throw Unreadable(deviceId, "desired"),
            DesiredVersion = reader.GetInt64(1),
            Reported = TryReadDocument(reader.GetString(2)) ?? throw Unreadable(deviceId, "reported"),
            ReportedVersion = reader.GetInt64(3),
        };
    }

    // Not transient: the row stays unreadable until the device is deleted (and registered again).
    private static IoTException Unreadable(string deviceId, string which) => new(IoTErrorKind.Unknown,
        $"The stored {which} state of device '{ErrorText.Escape(deviceId)}' is unreadable (not a JSON object within {JsonLimits.MaxReadDepth} levels); " +
        "the device's state cannot be read or changed until the device is deleted.", Provider, StateUnreadable);

    private static string CheckSize(JsonObject document, string deviceId, string which)
    {
        var json = document.ToJsonString();
        var size = Encoding.UTF8.GetByteCount(json);
        if (size > MaxDocumentBytes)
            throw new IoTException(IoTErrorKind.PayloadTooLarge,
                $"The {which} state of device '{ErrorText.Escape(deviceId)}' would be {size} bytes; the Local provider keeps at most {MaxDocumentBytes}.", Provider);
        return json;
    }
}
