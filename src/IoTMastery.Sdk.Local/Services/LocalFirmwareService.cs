using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// Firmware releases and staged rollouts on <see cref="LocalStore"/>, driven by
/// <see cref="RolloutOrchestrator"/>. A rollout is re-evaluated whenever one of its devices reports
/// firmware state and whenever it is read; each evaluation is persisted before its actions run.
/// Releases keep their operator signature, which goes out in the desired <c>firmware</c> object so
/// devices can verify it. An offer sets the device's desired <c>firmware</c> to the release; a rollback sets it to the
/// device's previous release, or, when that release is not registered here, records an error on
/// the device instead. Thread-safe; evaluations run one at a time.
/// </summary>
internal sealed class LocalFirmwareService : IFirmwareService
{
    private const string Provider = "Local";

    private readonly LocalStore _store;
    private readonly LocalStateService _state;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _evaluationLock = new(1, 1);

    /// <summary>Creates the service and subscribes it to reported-state changes.</summary>
    public LocalFirmwareService(LocalStore store, LocalStateService state, TimeProvider? timeProvider = null, ILogger<LocalFirmwareService>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(state);
        _store = store;
        _state = state;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger<LocalFirmwareService>.Instance;
        state.AddReportedListener(OnReportedAsync);
    }

    /// <inheritdoc />
    public async Task<FirmwareRelease> CreateReleaseAsync(FirmwareRelease release, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        release.Validate();
        var stored = release with { CreatedAt = _time.GetUtcNow() };
        await _store.WriteAsync(async (c, tx, ct) =>
        {
            if (await ReadReleaseAsync(c, tx, release.Version, ct).ConfigureAwait(false) is not null)
                throw new ResourceAlreadyExistsException($"Firmware release '{ErrorText.Escape(release.Version)}' already exists.", Provider, "ReleaseAlreadyExists");
            return await LocalStore.ExecuteAsync(c, tx,
                "INSERT INTO firmware_releases (version, uri, sha256, size, created_at, signature) VALUES ($v, $uri, $sha, $size, $at, $sig)", ct,
                ("$v", stored.Version), ("$uri", stored.Uri.AbsoluteUri), ("$sha", stored.Sha256), ("$size", stored.SizeBytes),
                ("$at", LocalStore.ToDb(stored.CreatedAt)), ("$sig", stored.Signature)).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return stored;
    }

    /// <inheritdoc />
    public async Task<FirmwareRelease> GetReleaseAsync(string version, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        return await _store.ReadAsync((c, ct) => ReadReleaseAsync(c, null, version, ct), cancellationToken).ConfigureAwait(false)
            ?? throw new ResourceNotFoundException($"Firmware release '{ErrorText.Escape(version)}' was not found.", Provider, "ReleaseNotFound");
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<FirmwareRelease> ListReleasesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var releases = await _store.ReadAsync(async (c, ct) =>
        {
            var list = new List<FirmwareRelease>();
            await using var command = LocalStore.Command(c, null, "SELECT version, uri, sha256, size, created_at, signature FROM firmware_releases ORDER BY created_at DESC, rowid DESC");
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                list.Add(ReadReleaseRow(reader));
            return list;
        }, cancellationToken).ConfigureAwait(false);
        foreach (var release in releases)
            yield return release;
    }

    /// <inheritdoc />
    public async Task<Rollout> StartRolloutAsync(RolloutPlan plan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        plan.Validate();
        foreach (var id in plan.DeviceIds)
            DeviceIdRules.Local.Validate(id, nameof(plan.DeviceIds));

        await _evaluationLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var release = await GetReleaseAsync(plan.ReleaseVersion, cancellationToken).ConfigureAwait(false);
            var decision = await _store.WriteAsync(async (c, tx, ct) =>
            {
                var previous = new Dictionary<string, string?>(StringComparer.Ordinal);
                await using (var command = LocalStore.Command(c, tx, "SELECT reported FROM device_state WHERE device_id = $id", ("$id", "")))
                {
                    foreach (var id in plan.DeviceIds)
                    {
                        command.Parameters["$id"].Value = id;
                        if (await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is not string reported)
                            throw new DeviceNotFoundException(id, Provider);
                        previous[id] = FirmwareStateContract.TryGetReported(LocalStateService.TryReadDocument(reported))?.Version;
                    }
                }
                var started = RolloutOrchestrator.Start("ro-" + Guid.NewGuid().ToString("N"), plan, previous, _time.GetUtcNow());
                await InsertRolloutAsync(c, tx, started.Rollout, ct).ConfigureAwait(false);
                return started;
            }, cancellationToken).ConfigureAwait(false);
            return await PerformAsync(decision.Rollout, decision.Actions, release, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _evaluationLock.Release();
        }
    }

    /// <inheritdoc />
    public Task<Rollout> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        return EvaluateAsync(rolloutId, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<Rollout> CancelRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        await _evaluationLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var rollout = await _store.ReadAsync((c, ct) => ReadRolloutAsync(c, null, rolloutId, ct), cancellationToken).ConfigureAwait(false);
            var decision = RolloutOrchestrator.Cancel(rollout, "Cancelled by the operator.", _time.GetUtcNow());
            if (decision.Changed)
                await _store.WriteAsync((c, tx, ct) => UpdateRolloutAsync(c, tx, rollout, decision.Rollout, ct), cancellationToken).ConfigureAwait(false);
            return decision.Rollout;
        }
        finally
        {
            _evaluationLock.Release();
        }
    }

    private async Task OnReportedAsync(string deviceId, JsonObject patch, DeviceState state, CancellationToken cancellationToken)
    {
        if (!patch.ContainsKey(FirmwareStateContract.PropertyName))
            return;
        try
        {
            var rolloutIds = await _store.ReadAsync(async (c, ct) =>
            {
                var ids = new List<string>();
                await using var command = LocalStore.Command(c, null,
                    "SELECT DISTINCT rollout_id FROM rollout_devices WHERE device_id = $id AND status = $status",
                    ("$id", deviceId), ("$status", DeviceRolloutStatus.InProgress.ToString()));
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    ids.Add(reader.GetString(0));
                return ids;
            }, cancellationToken).ConfigureAwait(false);
            foreach (var id in rolloutIds)
                await EvaluateAsync(id, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The device's report is already stored; the next read of the rollout retries the evaluation.
            _logger.LogWarning(ex, "Evaluating rollouts after a firmware report from device {DeviceId} failed.", deviceId);
        }
    }

    private async Task<Rollout> EvaluateAsync(string rolloutId, CancellationToken cancellationToken)
    {
        await _evaluationLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (rollout, reports) = await _store.ReadAsync(async (c, ct) =>
                (await ReadRolloutAsync(c, null, rolloutId, ct).ConfigureAwait(false), await ReadReportsAsync(c, rolloutId, ct).ConfigureAwait(false)),
                cancellationToken).ConfigureAwait(false);
            var decision = RolloutOrchestrator.Evaluate(rollout, reports, _time.GetUtcNow());
            if (!decision.Changed)
                return rollout;

            var result = decision.Rollout;
            var release = await GetReleaseAsync(rollout.Plan.ReleaseVersion, cancellationToken).ConfigureAwait(false);
            var actions = new List<RolloutAction>();
            var devices = result.Devices.ToArray();
            foreach (var action in decision.Actions)
            {
                if (action.Kind == RolloutActionKind.RollBack &&
                    await _store.ReadAsync((c, ct) => ReadReleaseAsync(c, null, action.Version, ct), cancellationToken).ConfigureAwait(false) is null)
                {
                    var i = Array.FindIndex(devices, d => d.DeviceId == action.DeviceId);
                    devices[i] = devices[i] with
                    {
                        Status = DeviceRolloutStatus.Failed,
                        Error = devices[i].Error + $" Its previous firmware {action.Version} is not a registered release, so it cannot be rolled back.",
                    };
                    continue;
                }
                actions.Add(action);
            }
            result = result with { Devices = devices };
            await _store.WriteAsync((c, tx, ct) => UpdateRolloutAsync(c, tx, rollout, result, ct), cancellationToken).ConfigureAwait(false);
            return await PerformAsync(result, actions, release, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _evaluationLock.Release();
        }
    }

    private async Task<Rollout> PerformAsync(Rollout rollout, IReadOnlyList<RolloutAction> actions, FirmwareRelease release, CancellationToken cancellationToken)
    {
        foreach (var action in actions)
        {
            var target = action.Kind == RolloutActionKind.Offer ? release : await GetReleaseAsync(action.Version, cancellationToken).ConfigureAwait(false);
            var patch = new JsonObject { [FirmwareStateContract.PropertyName] = FirmwareStateContract.BuildDesired(target, rollout.Id) };
            try
            {
                await _state.UpdateDesiredAsync(action.DeviceId, patch, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (DeviceNotFoundException)
            {
                // Deleted during the rollout: it will time out and count as failed.
                _logger.LogInformation("Device {DeviceId} in rollout {RolloutId} no longer exists.", action.DeviceId, rollout.Id);
            }
            catch (IoTException ex) when (ex.ErrorCode == LocalStateService.StateUnreadable)
            {
                // One device's unreadable state must not stop the others' waves: it times out and counts as failed.
                _logger.LogWarning("Device {DeviceId} in rollout {RolloutId} has unreadable stored state; it cannot be offered the release.", action.DeviceId, rollout.Id);
            }
        }
        return rollout;
    }

    private static async Task<Dictionary<string, ReportedFirmware>> ReadReportsAsync(SqliteConnection c, string rolloutId, CancellationToken ct)
    {
        var reports = new Dictionary<string, ReportedFirmware>(StringComparer.Ordinal);
        await using var command = LocalStore.Command(c, null,
            "SELECT s.device_id, s.reported FROM rollout_devices r JOIN device_state s ON s.device_id = r.device_id WHERE r.rollout_id = $id AND r.status = $status",
            ("$id", rolloutId), ("$status", DeviceRolloutStatus.InProgress.ToString()));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            // An unreadable document counts as no report (the device times out as failed) instead of failing the whole rollout.
            if (FirmwareStateContract.TryGetReported(LocalStateService.TryReadDocument(reader.GetString(1))) is { } report)
                reports[reader.GetString(0)] = report;
        }
        return reports;
    }

    private static async Task<FirmwareRelease?> ReadReleaseAsync(SqliteConnection c, SqliteTransaction? tx, string version, CancellationToken ct)
    {
        await using var command = LocalStore.Command(c, tx, "SELECT version, uri, sha256, size, created_at, signature FROM firmware_releases WHERE version = $v", ("$v", version));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadReleaseRow(reader) : null;
    }

    private static FirmwareRelease ReadReleaseRow(SqliteDataReader reader) => new()
    {
        Version = reader.GetString(0),
        Uri = new Uri(reader.GetString(1)),
        Sha256 = reader.GetString(2),
        SizeBytes = reader.GetInt64(3),
        CreatedAt = LocalStore.FromDb(reader.GetInt64(4)),
        Signature = reader.IsDBNull(5) ? null : reader.GetString(5),
    };

    private static async Task<Rollout> ReadRolloutAsync(SqliteConnection c, SqliteTransaction? tx, string rolloutId, CancellationToken ct)
    {
        Rollout rollout;
        await using (var command = LocalStore.Command(c, tx,
            "SELECT plan, status, current_wave, wave_count, created_at, updated_at, reason FROM rollouts WHERE id = $id", ("$id", rolloutId)))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                throw new ResourceNotFoundException($"Rollout '{ErrorText.Escape(rolloutId)}' was not found.", Provider, "RolloutNotFound");
            rollout = new Rollout
            {
                Id = rolloutId,
                Plan = PlanFromJson(reader.GetString(0)),
                Status = Enum.Parse<RolloutStatus>(reader.GetString(1)),
                CurrentWave = reader.GetInt32(2),
                WaveCount = reader.GetInt32(3),
                CreatedAt = LocalStore.FromDb(reader.GetInt64(4)),
                UpdatedAt = LocalStore.FromDb(reader.GetInt64(5)),
                Reason = reader.IsDBNull(6) ? null : reader.GetString(6),
            };
        }
        var devices = new List<DeviceRolloutState>();
        await using (var command = LocalStore.Command(c, tx,
            "SELECT device_id, wave, status, previous_version, started_at, updated_at, error FROM rollout_devices WHERE rollout_id = $id ORDER BY position", ("$id", rolloutId)))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                devices.Add(new DeviceRolloutState
                {
                    DeviceId = reader.GetString(0),
                    Wave = reader.GetInt32(1),
                    Status = Enum.Parse<DeviceRolloutStatus>(reader.GetString(2)),
                    PreviousVersion = reader.IsDBNull(3) ? null : reader.GetString(3),
                    StartedAt = reader.IsDBNull(4) ? null : LocalStore.FromDb(reader.GetInt64(4)),
                    UpdatedAt = LocalStore.FromDb(reader.GetInt64(5)),
                    Error = reader.IsDBNull(6) ? null : reader.GetString(6),
                });
            }
        }
        return rollout with { Devices = devices };
    }

    private static async Task<int> InsertRolloutAsync(SqliteConnection c, SqliteTransaction tx, Rollout rollout, CancellationToken ct)
    {
        await LocalStore.ExecuteAsync(c, tx,
            "INSERT INTO rollouts (id, plan, status, current_wave, wave_count, created_at, updated_at, reason) VALUES ($id, $plan, $status, $wave, $count, $created, $updated, $reason)", ct,
            ("$id", rollout.Id), ("$plan", PlanToJson(rollout.Plan)), ("$status", rollout.Status.ToString()), ("$wave", rollout.CurrentWave),
            ("$count", rollout.WaveCount), ("$created", LocalStore.ToDb(rollout.CreatedAt)), ("$updated", LocalStore.ToDb(rollout.UpdatedAt)),
            ("$reason", rollout.Reason)).ConfigureAwait(false);
        await using var insert = LocalStore.Command(c, tx,
            "INSERT INTO rollout_devices (rollout_id, position, device_id, wave, status, previous_version, started_at, updated_at, error) VALUES ($id, $pos, $device, $wave, $status, $prev, $started, $updated, $error)",
            ("$id", rollout.Id), ("$pos", 0), ("$device", ""), ("$wave", 0), ("$status", ""), ("$prev", null), ("$started", null), ("$updated", 0L), ("$error", null));
        for (var i = 0; i < rollout.Devices.Count; i++)
        {
            SetDeviceParameters(insert, i, rollout.Devices[i]);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        return rollout.Devices.Count;
    }

    private static async Task<int> UpdateRolloutAsync(SqliteConnection c, SqliteTransaction tx, Rollout before, Rollout after, CancellationToken ct)
    {
        await LocalStore.ExecuteAsync(c, tx,
            "UPDATE rollouts SET status = $status, current_wave = $wave, updated_at = $updated, reason = $reason WHERE id = $id", ct,
            ("$id", after.Id), ("$status", after.Status.ToString()), ("$wave", after.CurrentWave), ("$updated", LocalStore.ToDb(after.UpdatedAt)),
            ("$reason", after.Reason)).ConfigureAwait(false);
        await using var update = LocalStore.Command(c, tx,
            "UPDATE rollout_devices SET device_id = $device, wave = $wave, status = $status, previous_version = $prev, started_at = $started, updated_at = $updated, error = $error WHERE rollout_id = $id AND position = $pos",
            ("$id", after.Id), ("$pos", 0), ("$device", ""), ("$wave", 0), ("$status", ""), ("$prev", null), ("$started", null), ("$updated", 0L), ("$error", null));
        var changed = 0;
        for (var i = 0; i < after.Devices.Count; i++)
        {
            // Devices keep their plan order, so only rows whose record changed are written.
            if (i < before.Devices.Count && before.Devices[i] == after.Devices[i])
                continue;
            SetDeviceParameters(update, i, after.Devices[i]);
            changed += await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        return changed;
    }

    private static void SetDeviceParameters(SqliteCommand command, int position, DeviceRolloutState device)
    {
        command.Parameters["$pos"].Value = position;
        command.Parameters["$device"].Value = device.DeviceId;
        command.Parameters["$wave"].Value = device.Wave;
        command.Parameters["$status"].Value = device.Status.ToString();
        command.Parameters["$prev"].Value = (object?)device.PreviousVersion ?? DBNull.Value;
        command.Parameters["$started"].Value = device.StartedAt is { } started ? LocalStore.ToDb(started) : DBNull.Value;
        command.Parameters["$updated"].Value = LocalStore.ToDb(device.UpdatedAt);
        command.Parameters["$error"].Value = (object?)device.Error ?? DBNull.Value;
    }

    private static string PlanToJson(RolloutPlan plan) => new JsonObject
    {
        ["releaseVersion"] = plan.ReleaseVersion,
        ["deviceIds"] = new JsonArray(plan.DeviceIds.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()),
        ["waveSizes"] = plan.WaveSizes is null ? null : new JsonArray(plan.WaveSizes.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
        ["successThreshold"] = plan.SuccessThreshold,
        ["failureThreshold"] = plan.FailureThreshold,
        ["deviceTimeoutTicks"] = plan.DeviceTimeout.Ticks,
    }.ToJsonString();

    private static RolloutPlan PlanFromJson(string json)
    {
        var obj = JsonNode.Parse(json)!.AsObject();
        return new RolloutPlan
        {
            ReleaseVersion = obj["releaseVersion"]!.GetValue<string>(),
            DeviceIds = obj["deviceIds"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray(),
            WaveSizes = obj["waveSizes"]?.AsArray().Select(n => n!.GetValue<int>()).ToArray(),
            SuccessThreshold = obj["successThreshold"]!.GetValue<double>(),
            FailureThreshold = obj["failureThreshold"]!.GetValue<double>(),
            DeviceTimeout = TimeSpan.FromTicks(obj["deviceTimeoutTicks"]!.GetValue<long>()),
        };
    }
}
