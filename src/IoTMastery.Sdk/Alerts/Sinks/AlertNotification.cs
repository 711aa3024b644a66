using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace IoTMastery.Sdk;

/// <summary>
/// One alert transition in the shape every sink sends: threshold (<see cref="AlertEvent"/>), health (<see cref="HealthAlert"/>)
/// and anomaly (<see cref="AnomalyAlert"/>) alerts alike, with an <see cref="Id"/> that stays the same on every delivery attempt.
/// </summary>
public sealed record AlertNotification
{
    /// <summary>The <see cref="Rule"/> of a <see cref="ThresholdAlertRule"/> alert.</summary>
    public const string ThresholdRule = "threshold";

    /// <summary>
    /// Unique per transition and the same on every retry of it: the webhook sends it as the idempotency key, so a receiver
    /// that saw a POST whose answer was lost can drop the repeat.
    /// </summary>
    public required Guid Id { get; init; }

    /// <summary>Raised or cleared.</summary>
    public required AlertEventKind Kind { get; init; }

    /// <summary>
    /// Which rule: <c>silence</c>, <c>offline</c>, <c>rateOfChange</c>, <c>anomaly</c> (the <see cref="HealthRuleKind"/> names in
    /// camel case) or <c>threshold</c>.
    /// </summary>
    public required string Rule { get; init; }

    /// <summary>The device.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The metric, for threshold, rate-of-change and anomaly alerts.</summary>
    public string? Metric { get; init; }

    /// <summary>The reading that caused the transition, for metric alerts.</summary>
    public double? Value { get; init; }

    /// <summary>The rate per second or |z| score, for rate-of-change and anomaly alerts.</summary>
    public double? Score { get; init; }

    /// <summary>How long the device had been silent or offline, for health alerts.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>When the transition happened (the reading's time for metric alerts, the monitor's clock for health alerts).</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>The notification of a threshold alert, with a new <see cref="Id"/>.</summary>
    public static AlertNotification From(AlertEvent alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        return new AlertNotification
        {
            Id = Guid.CreateVersion7(), Kind = alert.Kind, Rule = ThresholdRule, DeviceId = alert.DeviceId,
            Metric = alert.Metric, Value = alert.Value, Timestamp = alert.Timestamp,
        };
    }

    /// <summary>The notification of a silence or offline alert, with a new <see cref="Id"/>.</summary>
    public static AlertNotification From(HealthAlert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        return new AlertNotification
        {
            Id = Guid.CreateVersion7(), Kind = alert.Kind, Rule = RuleName(alert.Rule), DeviceId = alert.DeviceId,
            Duration = alert.Duration, Timestamp = alert.Timestamp,
        };
    }

    /// <summary>The notification of a rate-of-change or anomaly alert, with a new <see cref="Id"/>.</summary>
    public static AlertNotification From(AnomalyAlert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        return new AlertNotification
        {
            Id = Guid.CreateVersion7(), Kind = alert.Kind, Rule = RuleName(alert.Rule), DeviceId = alert.DeviceId,
            Metric = alert.Metric, Value = alert.Value, Score = alert.Score, Timestamp = alert.Timestamp,
        };
    }

    internal static string RuleName(HealthRuleKind rule) => rule switch
    {
        HealthRuleKind.Silence => "silence",
        HealthRuleKind.Offline => "offline",
        HealthRuleKind.RateOfChange => "rateOfChange",
        HealthRuleKind.Anomaly => "anomaly",
        _ => throw new ArgumentOutOfRangeException(nameof(rule), rule, "Unknown health rule."),
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
            json.WriteString("kind", Kind == AlertEventKind.Raised ? "raised" : "cleared");
            json.WriteString("rule", Rule);
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
