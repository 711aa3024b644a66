using System.Diagnostics.Metrics;

namespace IoTMastery.Sdk.Diagnostics;

/// <summary>The one <see cref="Meter"/> of the SDK, named <c>IoTMastery.Sdk</c>, so users enable all SDK metrics with one name.</summary>
internal static class SdkMeter
{
    public const string Name = IoTDiagnostics.MeterName;

    public static readonly Meter Meter = new(Name, typeof(SdkMeter).Assembly.GetName().Version?.ToString());
}
