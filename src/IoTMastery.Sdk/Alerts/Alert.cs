using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace IoTMastery.Sdk;

/// <summary>Which kind of rule an <see cref="AlertRule"/> is; internal because callers read <see cref="AlertRule.Name"/>.</summary>
internal enum AlertRuleKind
{
    Silence,
    Offline,
    RateOfChange,
    Anomaly,
    Threshold,
}

/// <summary>
/// One alert transition for one device, from any rule of an <see cref="AlertMonitor"/>, and in the shape every sink sends.
/// One type rather than one per rule kind, so a caller routes, stores and forwards alerts without caring which rule made
/// them; the members that only some rules have are null for the others.
/// </summary>
public sealed record Alert
{
    /// <summary>
    /// Unique per transition and the same on every retry of it: the webhook sends it as the idempotency key, so a receiver
    /// that saw a POST whose answer was lost can drop the repeat. A new version-7 GUID unless set.
    /// </summary>
    public Guid Id { get; init; } = Guid.CreateVersion7();

    /// <summary>
    /// True when the rule's condition ended (the metric fell below the clear limit, the device spoke or reconnected); false
    /// when it began to hold, that is when the alert is raised. Sent as <c>"kind": "cleared"</c> or <c>"raised"</c>.
    /// </summary>
    public bool Cleared { get; init; }

    /// <summary>
    /// The rule that made the transition, one of the monitor's: its <see cref="AlertRule.Name"/> says which kind, its limits
    /// why it fired, and it is the key of the rule's entry in <see cref="FleetHealthSummary.Firing"/>.
    /// </summary>
    public required AlertRule Rule { get; init; }

    /// <summary>The device.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The metric (the rule's <see cref="AlertRule.Metric"/>), for threshold, rate-of-change and anomaly alerts; null for health alerts.</summary>
    public string? Metric { get; init; }

    /// <summary>The reading that caused the transition, for metric alerts.</summary>
    public double? Value { get; init; }

    /// <summary>The rate per second or |z| score, for rate-of-change and anomaly alerts.</summary>
    public double? Score { get; init; }

    /// <summary>How long the device had been silent or offline, for health alerts.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>When the transition happened (the reading's time for metric alerts, the monitor's clock for health alerts).</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>A metric rule's transition at one reading.</summary>
    internal static Alert ForReading(bool cleared, AlertRule rule, in TelemetryRecord record, double? score) => new()
    {
        Cleared = cleared, Rule = rule, DeviceId = record.DeviceId, Metric = record.Metric, Value = record.Value, Score = score,
        Timestamp = record.Timestamp,
    };

    /// <summary>A silence or offline transition decided at <paramref name="now"/>.</summary>
    internal static Alert ForHealth(bool cleared, AlertRule rule, string deviceId, DateTimeOffset now, TimeSpan duration) => new()
    {
        Cleared = cleared, Rule = rule, DeviceId = deviceId, Timestamp = now, Duration = duration,
    };

    /// <summary>The rule's name on the wire, in logs and in the fleet summary (<see cref="AlertRule.Name"/>): the kind in camel case.</summary>
    internal static string RuleName(AlertRuleKind rule) => rule switch
    {
        AlertRuleKind.Silence => "silence",
        AlertRuleKind.Offline => "offline",
        AlertRuleKind.RateOfChange => "rateOfChange",
        AlertRuleKind.Anomaly => "anomaly",
        AlertRuleKind.Threshold => "threshold",
        _ => throw new ArgumentOutOfRangeException(nameof(rule), rule, "Unknown alert rule."),
    };

    /// <summary>
    /// The JSON body: <c>{"id","kind","rule","deviceId","metric","value","score","durationSeconds","timestamp"}</c>, absent
    /// members omitted, the time in ISO 8601 UTC. Written by hand so the SDK needs no reflection-based serializer.
    /// </summary>
    internal byte[] ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", Id);
            json.WriteString("kind", Cleared ? "cleared" : "raised");
            json.WriteString("rule", Rule.Name);
            json.WriteString("deviceId", DeviceId);
            if (Metric is not null) json.WriteString("metric", Metric);
            Number(json, "value", Value);
            Number(json, "score", Score);
            if (Duration is { } d) json.WriteNumber("durationSeconds", d.TotalSeconds);
            json.WriteString("timestamp", Timestamp.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    // JSON has no NaN or infinity; a non-finite reading is sent as null rather than failing the whole alert.
    private static void Number(Utf8JsonWriter json, string name, double? value)
    {
        if (value is not { } v) return;
        if (double.IsFinite(v)) json.WriteNumber(name, v);
        else json.WriteNull(name);
    }
}
