namespace IoTMastery.Sdk;

/// <summary>A provider-neutral snapshot of a fleet: connectivity, firmware versions and the state of every alert rule.</summary>
/// <param name="At">When it was taken, on the clock passed to <see cref="Create"/>.</param>
/// <param name="Devices">Devices counted (each presence answer once).</param>
/// <param name="Online">Devices whose provider says connected.</param>
/// <param name="Offline">Devices whose provider says disconnected.</param>
/// <param name="Unknown">Devices whose provider cannot tell (<see cref="DevicePresence.Connected"/> null).</param>
/// <param name="FirmwareVersions">Devices per running firmware version, <see cref="UnknownVersion"/> for those that reported none; ordinal order.</param>
/// <param name="Rules">Per rule, devices ok and firing, in the order silence, offline, anomaly rules, threshold rules.</param>
public sealed record FleetHealthSummary(DateTimeOffset At, int Devices, int Online, int Offline, int Unknown,
    IReadOnlyDictionary<string, int> FirmwareVersions, IReadOnlyList<RuleHealth> Rules)
{
    /// <summary>The <see cref="FirmwareVersions"/> key of devices without a reported version.</summary>
    public const string UnknownVersion = "unknown";

    /// <summary>
    /// Summarizes the fleet: one entry per device in <paramref name="presence"/> (from <see cref="IPresenceService.ListAsync"/>
    /// pages); alert states are read from each evaluator given, for each of its rules. A device the evaluators never saw is ok.
    /// </summary>
    /// <param name="presence">The fleet's presence; a device listed twice counts once (the later entry wins).</param>
    /// <param name="firmwareVersions">Running firmware version per device (<see cref="ReportedFirmware.Version"/>); null: all unknown.</param>
    /// <param name="health">Silence and offline rules, when used.</param>
    /// <param name="anomalies">Rate-of-change and anomaly rules, when used.</param>
    /// <param name="thresholds">Threshold rules, when used.</param>
    /// <param name="timeProvider">Stamps <see cref="At"/>; defaults to the system clock.</param>
    /// <exception cref="ArgumentException">A presence entry is null or has no device id.</exception>
    public static FleetHealthSummary Create(IEnumerable<DevicePresence> presence, IReadOnlyDictionary<string, string>? firmwareVersions = null,
        HealthMonitor? health = null, AnomalyEvaluator? anomalies = null, AlertEvaluator? thresholds = null, TimeProvider? timeProvider = null)
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

        var rules = new List<RuleHealth>();
        if (health is not null)
        {
            if (health.Rules.SilentFor is not null) rules.Add(Rule(AlertRuleKind.Silence, null, devices.Keys, id => health.IsRaised(id, AlertRuleKind.Silence)));
            if (health.Rules.OfflineFor is not null) rules.Add(Rule(AlertRuleKind.Offline, null, devices.Keys, id => health.IsRaised(id, AlertRuleKind.Offline)));
        }
        if (anomalies is not null)
            foreach (var rule in anomalies.Rules)
                rules.Add(Rule(rule.Kind, rule.Metric, devices.Keys, id => anomalies.IsRaised(id, rule.Metric, rule.Kind)));
        if (thresholds is not null)
            foreach (var rule in thresholds.Rules)
                rules.Add(Rule(AlertRuleKind.Threshold, rule.Metric, devices.Keys, id => thresholds.IsRaised(id, rule.Metric)));

        var at = (timeProvider ?? TimeProvider.System).GetUtcNow();
        return new FleetHealthSummary(at, devices.Count, online, offline, unknown, new System.Collections.ObjectModel.ReadOnlyDictionary<string, int>(versions), rules);
    }

    private static RuleHealth Rule(AlertRuleKind rule, string? metric, IEnumerable<string> ids, Func<string, bool> firing)
    {
        var firingDevices = ids.Where(firing).ToList();
        return new RuleHealth(rule, metric, ids.Count() - firingDevices.Count, firingDevices);
    }
}

/// <summary>One rule's state across the fleet.</summary>
/// <param name="Rule">Which kind of rule; the same value as <see cref="Alert.Rule"/> of its alerts.</param>
/// <param name="Metric">The metric of a metric rule; null for silence and offline.</param>
/// <param name="Ok">Devices for which the rule is not firing.</param>
/// <param name="FiringDevices">Devices for which it is, in ordinal order.</param>
public sealed record RuleHealth(AlertRuleKind Rule, string? Metric, int Ok, IReadOnlyList<string> FiringDevices)
{
    /// <summary>How many devices the rule is firing for.</summary>
    public int Firing => FiringDevices.Count;
}

