namespace IoTMastery.Sdk;

/// <summary>How to roll a release out: which devices, in which waves, and when to advance or stop.</summary>
public sealed record RolloutPlan
{
    /// <summary>The release to install.</summary>
    public required string ReleaseVersion { get; init; }

    /// <summary>The target devices, split into waves in this order.</summary>
    public required IReadOnlyList<string> DeviceIds { get; init; }

    /// <summary>
    /// Sizes of the waves in devices, in order; the last wave takes whatever remains. Default: one
    /// canary wave of 10% (at least one device), then the rest.
    /// </summary>
    public IReadOnlyList<int>? WaveSizes { get; init; }

    /// <summary>Fraction of a wave that must succeed before the next wave starts, in (0, 1]. Default 0.9.</summary>
    public double SuccessThreshold { get; init; } = 0.9;

    /// <summary>
    /// Fraction of a wave whose failure stops the whole rollout, in (0, 1]. Default 0.2. Failed devices
    /// are always rolled back to their previous release, whether or not the rollout stops.
    /// </summary>
    public double FailureThreshold { get; init; } = 0.2;

    /// <summary>How long a device may take to report success or failure before it counts as failed. Default 10 minutes.</summary>
    public TimeSpan DeviceTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The upgrade path: when set, only devices whose running version is a semantic version at or above this one are
    /// offered the release. The others (below it, not semver, or not reporting a version) are
    /// <see cref="DeviceRolloutStatus.Skipped"/> at start with the reason in <see cref="DeviceRolloutState.Error"/>,
    /// in no wave, so they count towards neither threshold; the rollout itself still starts. Requires
    /// <see cref="ReleaseVersion"/> and this value to be semantic versions (SemVer 2.0.0 precedence).
    /// </summary>
    public string? MinimumRunningVersion { get; init; }

    /// <summary>
    /// Whether devices running a newer version than the release may be offered it. Default <see langword="false"/>: such
    /// a device is <see cref="DeviceRolloutStatus.Skipped"/> at start with the reason. Checked only where both versions are
    /// semantic versions (a device whose version is unknown or not semver is offered the release). Rolling a failed
    /// device back to its previous release is never subject to this rule.
    /// </summary>
    public bool AllowDowngrade { get; init; }

    /// <summary>
    /// A plan for a security patch: a canary of 25% of the devices (at least one), then the rest in one wave; a device
    /// timeout of 3 minutes; success threshold 0.8 and failure threshold 0.3. Health checks and rollbacks work as in every
    /// plan: a device that fails is rolled back, and a wave at or above the failure threshold stops the rollout. Downgrades
    /// stay refused. Adjust with <c>with { … }</c>.
    /// </summary>
    /// <param name="releaseVersion">The fixed release.</param>
    /// <param name="deviceIds">The devices to patch, for example the affected devices of a compliance report.</param>
    public static RolloutPlan Urgent(string releaseVersion, IReadOnlyList<string> deviceIds)
    {
        ArgumentNullException.ThrowIfNull(deviceIds);
        return new RolloutPlan
        {
            ReleaseVersion = releaseVersion,
            DeviceIds = deviceIds,
            // Two sizes: the canary, then the last wave takes the rest. A normal plan's canary is 10%.
            WaveSizes = [Math.Max(1, deviceIds.Count / 4), 1],
            DeviceTimeout = TimeSpan.FromMinutes(3),
            SuccessThreshold = 0.8,
            FailureThreshold = 0.3,
        };
    }

    /// <summary>Checks the plan; throws <see cref="ArgumentException"/> naming the rule.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(ReleaseVersion);
        ArgumentNullException.ThrowIfNull(DeviceIds);
        if (DeviceIds.Count == 0)
            throw new ArgumentException("A rollout needs at least one device.", nameof(DeviceIds));
        if (DeviceIds.Distinct(StringComparer.Ordinal).Count() != DeviceIds.Count)
            throw new ArgumentException("A device may appear only once in a rollout.", nameof(DeviceIds));
        if (WaveSizes is not null && (WaveSizes.Count == 0 || WaveSizes.Any(s => s < 1)))
            throw new ArgumentException("Wave sizes must be positive.", nameof(WaveSizes));
        if (SuccessThreshold is <= 0 or > 1 || double.IsNaN(SuccessThreshold))
            throw new ArgumentOutOfRangeException(nameof(SuccessThreshold), SuccessThreshold, "SuccessThreshold must be in (0, 1].");
        if (FailureThreshold is <= 0 or > 1 || double.IsNaN(FailureThreshold))
            throw new ArgumentOutOfRangeException(nameof(FailureThreshold), FailureThreshold, "FailureThreshold must be in (0, 1].");
        if (DeviceTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(DeviceTimeout), DeviceTimeout, "DeviceTimeout must be positive.");
        if (MinimumRunningVersion is not null)
        {
            // Ordering is required here, so both versions must be semantic versions; named after the plan members.
            if (!FirmwareVersion.TryParse(MinimumRunningVersion, out _))
                throw new ArgumentException($"MinimumRunningVersion '{ErrorText.Escape(MinimumRunningVersion, 80)}' is not a semantic version (SemVer 2.0.0).", nameof(MinimumRunningVersion));
            if (!FirmwareVersion.TryParse(ReleaseVersion, out _))
                throw new ArgumentException($"ReleaseVersion '{ErrorText.Escape(ReleaseVersion, 80)}' is not a semantic version (SemVer 2.0.0), so MinimumRunningVersion cannot be used.", nameof(ReleaseVersion));
        }
    }
}

/// <summary>Where a rollout stands.</summary>
public enum RolloutStatus
{
    /// <summary>Waves are being installed.</summary>
    InProgress,

    /// <summary>Every wave ran; devices that failed were rolled back.</summary>
    Completed,

    /// <summary>A wave crossed the failure threshold; later waves never started and failed devices were rolled back.</summary>
    Stopped,

    /// <summary>Cancelled by the operator; devices not yet updated keep their firmware.</summary>
    Cancelled,
}

/// <summary>Where one device stands in a rollout.</summary>
public enum DeviceRolloutStatus
{
    /// <summary>Its wave has not started.</summary>
    Pending,

    /// <summary>The update was offered and the device has not finished.</summary>
    InProgress,

    /// <summary>The device installed the release and reported it healthy.</summary>
    Succeeded,

    /// <summary>The device reported a failure or timed out; it is being rolled back.</summary>
    Failed,

    /// <summary>The device failed and was told to return to its previous release.</summary>
    RolledBack,

    /// <summary>
    /// The rollout stopped or was cancelled before this device's wave started, or the plan refused the device at start
    /// (a downgrade, or below <see cref="RolloutPlan.MinimumRunningVersion"/>; the reason is in <see cref="DeviceRolloutState.Error"/>).
    /// </summary>
    Skipped,
}

/// <summary>One device's progress in a rollout.</summary>
public sealed record DeviceRolloutState
{
    /// <summary>The device.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The zero-based wave the device belongs to; -1 for a device the plan refused at start.</summary>
    public int Wave { get; init; }

    /// <summary>Where the device stands.</summary>
    public DeviceRolloutStatus Status { get; init; }

    /// <summary>The release the device ran before, restored on rollback; <see langword="null"/> if unknown.</summary>
    public string? PreviousVersion { get; init; }

    /// <summary>When the device's wave started, once it has.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When the status last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>The device's failure reason, if it failed, or why the plan refused it at start.</summary>
    public string? Error { get; init; }
}

/// <summary>A rollout and its per-device progress.</summary>
public sealed record Rollout
{
    /// <summary>The rollout id.</summary>
    public required string Id { get; init; }

    /// <summary>The plan it follows.</summary>
    public required RolloutPlan Plan { get; init; }

    /// <summary>Where it stands.</summary>
    public RolloutStatus Status { get; init; }

    /// <summary>The zero-based wave now installing (or the last one that ran).</summary>
    public int CurrentWave { get; init; }

    /// <summary>The number of waves.</summary>
    public int WaveCount { get; init; }

    /// <summary>Per-device progress.</summary>
    public IReadOnlyList<DeviceRolloutState> Devices { get; init; } = [];

    /// <summary>When the rollout was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When it last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Why it stopped or was cancelled, if it did.</summary>
    public string? Reason { get; init; }

    /// <summary>How many devices are in <paramref name="status"/>.</summary>
    public int Count(DeviceRolloutStatus status) => Devices.Count(d => d.Status == status);
}
