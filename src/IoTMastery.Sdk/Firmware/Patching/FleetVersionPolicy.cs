namespace IoTMastery.Sdk;

/// <summary>
/// The fleet's minimum allowed firmware version. <see cref="SecurityPatching.GetComplianceReportAsync"/> flags the devices
/// that report a semantic version below it; <see cref="SecurityPatching.DisableDevicesBelowMinimumAsync"/> disables them
/// in the registry, only when called (the opt-in). Devices that report no version, or one that is not semver, are never
/// counted as below it: they are listed as not reporting, or left for the operator to judge.
/// </summary>
internal sealed record FleetVersionPolicy
{
    /// <summary>The lowest version a device may run: a semantic version.</summary>
    public required string MinimumAllowedVersion { get; init; }

    /// <summary>Checks the policy; throws <see cref="ArgumentException"/> naming the rule.</summary>
    public void Validate()
    {
        if (!FirmwareVersion.TryParse(MinimumAllowedVersion, out _))
            throw new ArgumentException($"MinimumAllowedVersion '{ErrorText.Escape(MinimumAllowedVersion ?? "", 80)}' is not a semantic version (SemVer 2.0.0).", nameof(MinimumAllowedVersion));
    }

    /// <summary>Whether a device reporting <paramref name="running"/> is below the minimum.</summary>
    internal bool IsBelow(string? running) =>
        FirmwareVersion.TryParse(running, out var version) && version < FirmwareVersion.Parse(MinimumAllowedVersion);
}
