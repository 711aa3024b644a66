using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Analytics;

partial class TelemetryLakeExporter
{
    // Event ids 1-99 (CONTRIBUTING.md, Logging). The sink's description, never its credentials.
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Writing telemetry to the lake at {Sink} failed ({Failures} of {Max} in a row); the records stay pending and are written again under the same keys.")]
        public static partial void WriteFailed(ILogger logger, Exception exception, string sink, int failures, int max);
    }
}
