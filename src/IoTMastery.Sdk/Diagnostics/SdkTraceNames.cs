namespace IoTMastery.Sdk.Diagnostics;

/// <summary>
/// The name under which the SDK publishes traces, for <c>AddSource</c> (OpenTelemetry instrumentation packages expose
/// theirs the same way). It matches the meter's name, <see cref="SdkMetricNames.Meter"/>, so one name enables both.
/// </summary>
public static class SdkTraceNames
{
    /// <summary>
    /// The one <see cref="System.Diagnostics.ActivitySource"/> of the SDK: <c>IoTMastery.Sdk</c>. Its spans cover the
    /// registry, command, state and firmware calls of every provider, each HTTP attempt of the AWS, Azure and GCP-style
    /// providers, and each telemetry batch send.
    /// </summary>
    public const string ActivitySource = "IoTMastery.Sdk";
}
