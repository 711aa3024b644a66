namespace IoTMastery.Sdk.Diagnostics;

/// <summary>
/// The names under which the SDK publishes metrics, for <c>AddMeter</c> and dashboards (OpenTelemetry
/// instrumentation packages expose theirs the same way).
/// </summary>
public static class SdkMetricNames
{
    /// <summary>The one meter of the SDK: <c>IoTMastery.Sdk</c>.</summary>
    public const string Meter = "IoTMastery.Sdk";

    /// <summary>
    /// Counter of HTTP requests that the AWS, Azure and GCP-style providers sent again after a transient failure
    /// (attempts after the first), tagged <c>provider</c> (<c>Aws</c>, <c>Azure</c>, <c>Gcp</c>).
    /// </summary>
    public const string HttpRetries = "iotmastery.http.retries";
}
