using System.Collections.ObjectModel;

namespace IoTMastery.Sdk;

/// <summary>A provider-neutral snapshot of a fleet: connectivity, firmware versions and the state of every alert rule.</summary>
/// <param name="At">When it was taken, on the clock passed to <see cref="Create"/>.</param>
/// <param name="Devices">Devices counted (each presence answer once).</param>
/// <param name="Online">Devices whose provider says connected.</param>
/// <param name="Offline">Devices whose provider says disconnected.</param>
/// <param name="Unknown">Devices whose provider cannot tell (<see cref="DevicePresence.Connected"/> null).</param>
/// <param name="FirmwareVersions">Devices per running firmware version, <see cref="UnknownVersion"/> for those that reported none; ordinal order.</param>
/// <param name="Firing">
/// Per rule of the monitor given to <see cref="Create"/>, in the monitor's order, the devices it is firing for (in ordinal
/// order); every other counted device is ok for it (<see cref="Devices"/> minus the list's count).
/// </param>
public sealed record FleetHealthSummary(DateTimeOffset At, int Devices, int Online, int Offline, int Unknown,
    IReadOnlyDictionary<string, int> FirmwareVersions, IReadOnlyDictionary<AlertRule, IReadOnlyList<string>> Firing)
{
    /// <summary>The <see cref="FirmwareVersions"/> key of devices without a reported version.</summary>
    public const string UnknownVersion = "unknown";

    /// <summary>
    /// Summarizes the fleet: one entry per device in <paramref name="presence"/> (from <see cref="IDeviceRegistry.ListPresenceAsync"/>
    /// pages); alert states are read from <paramref name="alerts"/>, for each of its rules. A device the monitor never saw is ok.
    /// </summary>
    /// <param name="presence">The fleet's presence; a device listed twice counts once (the later entry wins).</param>
    /// <param name="firmwareVersions">Running firmware version per device (<see cref="ReportedFirmware.Version"/>); null: all unknown.</param>
    /// <param name="alerts">The monitor whose rules to report; null: connectivity and firmware only.</param>
    /// <param name="timeProvider">Stamps <see cref="At"/>; defaults to the system clock.</param>
    /// <exception cref="ArgumentException">A presence entry is null or has no device id.</exception>
    public static FleetHealthSummary Create(IEnumerable<DevicePresence> presence, IReadOnlyDictionary<string, string>? firmwareVersions = null,
        AlertMonitor? alerts = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(presence);
        var devices = new SortedDictionary<string, DevicePresence>(StringComparer.Ordinal);
        foreach (var entry in presence)
        {
            if (entry is null || string.IsNullOrEmpty(entry.DeviceId))
                throw new ArgumentException("Every presence entry needs a device id.", nameof(presence));
            devices[entry.DeviceId] = entry;
        }

        int online = 0, offline = 0, unknown = 0;
        var versions = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var (id, p) in devices)
        {
            if (p.Connected is null) unknown++;
            else if (p.Connected.Value) online++;
            else offline++;
            var version = firmwareVersions is not null && firmwareVersions.TryGetValue(id, out var v) && !string.IsNullOrEmpty(v) ? v : UnknownVersion;
            versions[version] = versions.GetValueOrDefault(version) + 1;
        }

        // Ordered, so the summary lists the rules as the monitor was given them.
        var firing = new OrderedDictionary<AlertRule, IReadOnlyList<string>>();
        if (alerts is not null)
            foreach (var rule in alerts.Rules)
                firing[rule] = alerts.Firing(rule, devices.Keys).AsReadOnly();

        var at = (timeProvider ?? TimeProvider.System).GetUtcNow();
        return new FleetHealthSummary(at, devices.Count, online, offline, unknown, new ReadOnlyDictionary<string, int>(versions),
            new ReadOnlyDictionary<AlertRule, IReadOnlyList<string>>(firing));
    }
}
