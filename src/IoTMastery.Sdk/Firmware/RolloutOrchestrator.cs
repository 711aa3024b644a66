namespace IoTMastery.Sdk;

/// <summary>What a provider must do to a device after a rollout decision.</summary>
internal enum RolloutActionKind
{
    /// <summary>Set the device's desired firmware to the rollout's release.</summary>
    Offer,

    /// <summary>Set the device's desired firmware back to <see cref="RolloutAction.Version"/>, its previous release.</summary>
    RollBack,
}

/// <summary>One thing a provider must do to a device.</summary>
/// <param name="Kind">Offer the release or roll back.</param>
/// <param name="DeviceId">The device.</param>
/// <param name="Version">The firmware version to put in the device's desired state.</param>
internal sealed record RolloutAction(RolloutActionKind Kind, string DeviceId, string Version);

/// <summary>The result of applying the rollout rules: the new rollout and the actions to perform.</summary>
/// <param name="Rollout">The rollout after the decision; persist it before performing the actions.</param>
/// <param name="Actions">Offers and rollbacks, in device order.</param>
/// <param name="Changed">Whether anything differs from the input rollout.</param>
internal sealed record RolloutDecision(Rollout Rollout, IReadOnlyList<RolloutAction> Actions, bool Changed);

/// <summary>
/// The staged-rollout rules, as pure deterministic functions with no I/O, shared by every provider.
/// A provider stores the <see cref="Rollout"/>, feeds in each device's latest
/// <see cref="ReportedFirmware"/> and the current time, persists the returned rollout and then
/// performs the returned <see cref="RolloutAction"/>s.
/// </summary>
/// <remarks>
/// <para><b>Waves.</b> With <see cref="RolloutPlan.WaveSizes"/>, devices are taken in plan order: each
/// listed size but the last takes that many devices (fewer if they run out) and the last wave takes
/// every device left; empty waves are dropped. Without it: a canary wave of 10% of the devices
/// (rounded down, at least one), then one wave with the rest. A single device makes one wave.</para>
/// <para><b>Refused devices.</b> Before the waves are cut, a device the plan refuses (running a newer semantic version than
/// the release without <see cref="RolloutPlan.AllowDowngrade"/>, or not shown to run at least
/// <see cref="RolloutPlan.MinimumRunningVersion"/>) becomes <see cref="DeviceRolloutStatus.Skipped"/> in wave -1 with the
/// reason as its error; it is never offered the release and counts towards no threshold.</para>
/// <para><b>Start.</b> Wave 0 becomes <see cref="DeviceRolloutStatus.InProgress"/> and is offered the
/// release; later waves are <see cref="DeviceRolloutStatus.Pending"/>.</para>
/// <para><b>Reports.</b> A report belongs to the rollout when its rollout id equals the rollout's, or
/// it carries no rollout id. An in-progress device <em>succeeds</em> when such a report has status
/// succeeded and running version equal to the release; it <em>fails</em> when such a report has status
/// failed and target version equal to the release (or no target version), or when
/// <c>now &gt; StartedAt + DeviceTimeout</c> without either.</para>
/// <para><b>Rollback.</b> Every failed device is rolled back, whatever else happens: with a known
/// previous version it becomes <see cref="DeviceRolloutStatus.RolledBack"/> and a
/// <see cref="RolloutActionKind.RollBack"/> action is returned; without one it stays
/// <see cref="DeviceRolloutStatus.Failed"/> with an error saying the previous version is unknown.</para>
/// <para><b>Waves advance or stop</b> (only while <see cref="RolloutStatus.InProgress"/>): for every
/// started wave, when failed (failed or rolled back) / wave size ≥ <see cref="RolloutPlan.FailureThreshold"/>
/// the rollout is <see cref="RolloutStatus.Stopped"/> and every pending device is
/// <see cref="DeviceRolloutStatus.Skipped"/>. Otherwise, when succeeded / size of the current wave ≥
/// <see cref="RolloutPlan.SuccessThreshold"/> and a next wave exists, the next wave starts (its devices
/// are offered). When the current wave is the last and every device is terminal (succeeded, failed or
/// rolled back) the rollout is <see cref="RolloutStatus.Completed"/>. When a wave that is not the
/// last has every device terminal but met neither threshold, the rollout is stopped, because it could
/// never advance.</para>
/// <para><b>After the end.</b> A stopped or cancelled rollout still tracks devices that were already
/// offered the release: their reports and timeouts are applied and failures rolled back, but no
/// device is offered anything new. A completed rollout never changes.</para>
/// </remarks>
internal static class RolloutOrchestrator
{
    /// <summary>Splits the plan's devices into waves by the rules above.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> SplitWaves(RolloutPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        plan.Validate();
        return SplitWaves(plan, plan.DeviceIds);
    }

    /// <summary>
    /// Why the plan refuses a device running <paramref name="running"/> (<see langword="null"/> when unknown), or
    /// <see langword="null"/> when it is offered the release.
    /// </summary>
    internal static string? RefusalReason(RolloutPlan plan, string? running)
    {
        FirmwareVersion.TryParse(running, out var current);
        if (plan.MinimumRunningVersion is { } minimum)
        {
            if (running is null)
                return $"Skipped: the device reports no running version, so it cannot be shown to be at or above the minimum {minimum}.";
            if (current is null)
                return $"Skipped: the running version '{running}' is not a semantic version, so it cannot be compared with the minimum {minimum}.";
            if (current < FirmwareVersion.Parse(minimum))
                return $"Skipped: runs {running}, below the minimum running version {minimum} this rollout requires (upgrade it along the path first).";
        }
        if (!plan.AllowDowngrade && current is not null && FirmwareVersion.TryParse(plan.ReleaseVersion, out var target) && current > target)
            return $"Skipped: runs {running}, newer than the release {plan.ReleaseVersion}; this would be a downgrade (set AllowDowngrade to allow it).";
        return null;
    }

    private static IReadOnlyList<IReadOnlyList<string>> SplitWaves(RolloutPlan plan, IReadOnlyList<string> ids)
    {
        var sizes = plan.WaveSizes ?? [Math.Max(1, ids.Count / 10)];
        var waves = new List<IReadOnlyList<string>>();
        var next = 0;
        // Every listed size but the last is honoured; the last wave always takes the remainder.
        for (var i = 0; i < sizes.Count - 1 && next < ids.Count; i++)
        {
            var take = Math.Min(sizes[i], ids.Count - next);
            waves.Add(ids.Skip(next).Take(take).ToArray());
            next += take;
        }
        if (plan.WaveSizes is null && next == 0 && ids.Count > 0)
        {
            var canary = Math.Min(sizes[0], ids.Count);
            waves.Add(ids.Take(canary).ToArray());
            next = canary;
        }
        if (next < ids.Count)
            waves.Add(ids.Skip(next).ToArray());
        return waves;
    }

    /// <summary>Creates a rollout: wave 0 is in progress and offered the release.</summary>
    /// <param name="rolloutId">The new rollout's id.</param>
    /// <param name="plan">The plan; validated here.</param>
    /// <param name="previousVersions">Each device's running version before the rollout, where known.</param>
    /// <param name="now">The current time.</param>
    public static RolloutDecision Start(string rolloutId, RolloutPlan plan, IReadOnlyDictionary<string, string?> previousVersions, DateTimeOffset now)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        ArgumentNullException.ThrowIfNull(previousVersions);
        ArgumentNullException.ThrowIfNull(plan);
        plan.Validate();
        // Refused devices are set aside before the waves are cut, so wave sizes and thresholds count eligible devices only.
        var refused = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var id in plan.DeviceIds)
        {
            if (RefusalReason(plan, previousVersions.GetValueOrDefault(id)) is { } why)
                refused[id] = why;
        }
        var waves = SplitWaves(plan, plan.DeviceIds.Where(id => !refused.ContainsKey(id)).ToArray());
        var devices = new List<DeviceRolloutState>(plan.DeviceIds.Count);
        var actions = new List<RolloutAction>();
        for (var wave = 0; wave < waves.Count; wave++)
        {
            foreach (var id in waves[wave])
            {
                devices.Add(new DeviceRolloutState
                {
                    DeviceId = id,
                    Wave = wave,
                    Status = wave == 0 ? DeviceRolloutStatus.InProgress : DeviceRolloutStatus.Pending,
                    PreviousVersion = previousVersions.GetValueOrDefault(id),
                    StartedAt = wave == 0 ? now : null,
                    UpdatedAt = now,
                });
                if (wave == 0)
                    actions.Add(new RolloutAction(RolloutActionKind.Offer, id, plan.ReleaseVersion));
            }
        }
        foreach (var id in plan.DeviceIds.Where(refused.ContainsKey))
        {
            devices.Add(new DeviceRolloutState
            {
                DeviceId = id, Wave = -1, Status = DeviceRolloutStatus.Skipped, PreviousVersion = previousVersions.GetValueOrDefault(id),
                UpdatedAt = now, Error = refused[id],
            });
        }
        var rollout = new Rollout
        {
            Id = rolloutId,
            Plan = plan,
            Status = RolloutStatus.InProgress,
            CurrentWave = 0,
            WaveCount = waves.Count,
            Devices = devices,
            CreatedAt = now,
            UpdatedAt = now,
        };
        return new RolloutDecision(rollout, actions, true);
    }

    /// <summary>Applies the rules to the latest reports at <paramref name="now"/>.</summary>
    /// <param name="rollout">The rollout as last persisted.</param>
    /// <param name="reports">Each device's latest reported firmware; missing devices have not reported.</param>
    /// <param name="now">The current time.</param>
    public static RolloutDecision Evaluate(Rollout rollout, IReadOnlyDictionary<string, ReportedFirmware> reports, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        ArgumentNullException.ThrowIfNull(reports);
        if (rollout.Status == RolloutStatus.Completed)
            return new RolloutDecision(rollout, [], false);

        var plan = rollout.Plan;
        var devices = rollout.Devices.ToArray();
        var actions = new List<RolloutAction>();
        var changed = false;

        // 1. Apply reports and timeouts to every device that was offered the release.
        for (var i = 0; i < devices.Length; i++)
        {
            var device = devices[i];
            if (device.Status != DeviceRolloutStatus.InProgress)
                continue;
            var report = reports.GetValueOrDefault(device.DeviceId);
            if (report is not null && Succeeded(rollout, report))
            {
                devices[i] = device with { Status = DeviceRolloutStatus.Succeeded, UpdatedAt = now, Error = null };
            }
            else if (report is not null && Failed(rollout, report))
            {
                devices[i] = Fail(device, report.Error ?? "The device reported the update failed.", now, actions, plan.ReleaseVersion);
            }
            else if (device.StartedAt is { } started && now > started + plan.DeviceTimeout)
            {
                devices[i] = Fail(device, $"No success or failure reported within {plan.DeviceTimeout}.", now, actions, plan.ReleaseVersion);
            }
            else
            {
                continue;
            }
            changed = true;
        }

        var status = rollout.Status;
        var currentWave = rollout.CurrentWave;
        var reason = rollout.Reason;

        // 2. Decide about waves, only while the rollout runs.
        if (status == RolloutStatus.InProgress)
        {
            for (var wave = 0; wave <= currentWave && status == RolloutStatus.InProgress; wave++)
            {
                var (size, failed, _, _) = Tally(devices, wave);
                if (size > 0 && (double)failed / size >= plan.FailureThreshold)
                {
                    status = RolloutStatus.Stopped;
                    reason = $"Wave {wave}: {failed} of {size} devices failed, at or above the failure threshold {plan.FailureThreshold:0.###}.";
                }
            }

            if (status == RolloutStatus.InProgress)
            {
                var (size, _, succeeded, terminal) = Tally(devices, currentWave);
                var isLast = currentWave >= rollout.WaveCount - 1;
                if (!isLast && (double)succeeded / size >= plan.SuccessThreshold)
                {
                    currentWave++;
                    for (var i = 0; i < devices.Length; i++)
                    {
                        if (devices[i].Wave != currentWave || devices[i].Status != DeviceRolloutStatus.Pending)
                            continue;
                        devices[i] = devices[i] with { Status = DeviceRolloutStatus.InProgress, StartedAt = now, UpdatedAt = now };
                        actions.Add(new RolloutAction(RolloutActionKind.Offer, devices[i].DeviceId, plan.ReleaseVersion));
                    }
                }
                else if (isLast && devices.All(d => IsTerminal(d.Status)))
                {
                    status = RolloutStatus.Completed;
                }
                else if (!isLast && terminal == size)
                {
                    status = RolloutStatus.Stopped;
                    reason = $"Wave {currentWave} finished with {succeeded} of {size} devices succeeded, below the success threshold {plan.SuccessThreshold:0.###}.";
                }
            }

            if (status == RolloutStatus.Stopped)
            {
                for (var i = 0; i < devices.Length; i++)
                {
                    if (devices[i].Status == DeviceRolloutStatus.Pending)
                        devices[i] = devices[i] with { Status = DeviceRolloutStatus.Skipped, UpdatedAt = now };
                }
            }
        }

        changed |= status != rollout.Status || currentWave != rollout.CurrentWave;
        if (!changed)
            return new RolloutDecision(rollout, [], false);
        var result = rollout with
        {
            Status = status,
            CurrentWave = currentWave,
            Devices = devices,
            Reason = reason,
            UpdatedAt = now,
        };
        return new RolloutDecision(result, actions, true);
    }

    /// <summary>
    /// Cancels a running rollout: pending devices are skipped and nothing new is offered. A rollout
    /// that already ended is returned unchanged.
    /// </summary>
    public static RolloutDecision Cancel(Rollout rollout, string reason, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        if (rollout.Status != RolloutStatus.InProgress)
            return new RolloutDecision(rollout, [], false);
        var devices = rollout.Devices
            .Select(d => d.Status == DeviceRolloutStatus.Pending ? d with { Status = DeviceRolloutStatus.Skipped, UpdatedAt = now } : d)
            .ToArray();
        return new RolloutDecision(rollout with { Status = RolloutStatus.Cancelled, Devices = devices, Reason = reason, UpdatedAt = now }, [], true);
    }

    /// <summary>Whether a device status is final for the rollout.</summary>
    public static bool IsTerminal(DeviceRolloutStatus status) =>
        status is DeviceRolloutStatus.Succeeded or DeviceRolloutStatus.Failed or DeviceRolloutStatus.RolledBack or DeviceRolloutStatus.Skipped;

    private static bool BelongsTo(Rollout rollout, ReportedFirmware report) =>
        report.RolloutId is null || string.Equals(report.RolloutId, rollout.Id, StringComparison.Ordinal);

    private static bool Succeeded(Rollout rollout, ReportedFirmware report) =>
        BelongsTo(rollout, report) && report.Status == FirmwareUpdateStatus.Succeeded &&
        string.Equals(report.Version, rollout.Plan.ReleaseVersion, StringComparison.Ordinal);

    private static bool Failed(Rollout rollout, ReportedFirmware report) =>
        BelongsTo(rollout, report) && report.Status == FirmwareUpdateStatus.Failed &&
        (report.TargetVersion is null || string.Equals(report.TargetVersion, rollout.Plan.ReleaseVersion, StringComparison.Ordinal));

    private static DeviceRolloutState Fail(DeviceRolloutState device, string error, DateTimeOffset now, List<RolloutAction> actions, string releaseVersion)
    {
        // Rolling back to the release being installed would be a no-op, so it counts as unknown.
        if (device.PreviousVersion is { } previous && !string.Equals(previous, releaseVersion, StringComparison.Ordinal))
        {
            actions.Add(new RolloutAction(RolloutActionKind.RollBack, device.DeviceId, previous));
            return device with { Status = DeviceRolloutStatus.RolledBack, Error = error, UpdatedAt = now };
        }
        return device with
        {
            Status = DeviceRolloutStatus.Failed,
            Error = error + " The previous firmware version is unknown, so the device cannot be rolled back.",
            UpdatedAt = now,
        };
    }

    private static (int Size, int Failed, int Succeeded, int Terminal) Tally(DeviceRolloutState[] devices, int wave)
    {
        int size = 0, failed = 0, succeeded = 0, terminal = 0;
        foreach (var d in devices)
        {
            if (d.Wave != wave) continue;
            size++;
            if (d.Status is DeviceRolloutStatus.Failed or DeviceRolloutStatus.RolledBack) failed++;
            if (d.Status == DeviceRolloutStatus.Succeeded) succeeded++;
            if (IsTerminal(d.Status)) terminal++;
        }
        return (size, failed, succeeded, terminal);
    }
}
