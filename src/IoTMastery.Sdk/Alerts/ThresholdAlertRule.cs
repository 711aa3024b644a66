namespace IoTMastery.Sdk;

/// <summary>
/// A threshold alert with hysteresis: raised when a metric goes above <see cref="RaiseAbove"/>,
/// cleared only when it falls below <see cref="ClearBelow"/>. Values in between keep the current
/// state, so a reading that wobbles around one threshold does not flap.
/// </summary>
public sealed record ThresholdAlertRule
{
    /// <summary>Creates and validates a rule.</summary>
    /// <param name="metric">The metric name, 1-128 characters.</param>
    /// <param name="raiseAbove">The alert is raised by a value strictly above this.</param>
    /// <param name="clearBelow">The alert is cleared by a value strictly below this; must be ≤ <paramref name="raiseAbove"/>.</param>
    /// <exception cref="ArgumentException">A threshold is not finite, the metric name is empty or too long, or <paramref name="clearBelow"/> &gt; <paramref name="raiseAbove"/>.</exception>
    public ThresholdAlertRule(string metric, double raiseAbove, double clearBelow)
    {
        ArgumentException.ThrowIfNullOrEmpty(metric);
        if (metric.Length > TelemetryRecord.MaxMetricLength)
            throw new ArgumentException($"Metric names are at most {TelemetryRecord.MaxMetricLength} characters; got {metric.Length}.", nameof(metric));
        if (!double.IsFinite(raiseAbove))
            throw new ArgumentException($"RaiseAbove must be a finite number; got {raiseAbove}.", nameof(raiseAbove));
        if (!double.IsFinite(clearBelow))
            throw new ArgumentException($"ClearBelow must be a finite number; got {clearBelow}.", nameof(clearBelow));
        if (clearBelow > raiseAbove)
            throw new ArgumentException($"ClearBelow ({clearBelow}) must be less than or equal to RaiseAbove ({raiseAbove}), or the alert would flap.", nameof(clearBelow));
        Metric = metric;
        RaiseAbove = raiseAbove;
        ClearBelow = clearBelow;
    }

    /// <summary>The metric the rule watches.</summary>
    public string Metric { get; }

    /// <summary>A value strictly above this raises the alert.</summary>
    public double RaiseAbove { get; }

    /// <summary>A value strictly below this clears a raised alert.</summary>
    public double ClearBelow { get; }
}
