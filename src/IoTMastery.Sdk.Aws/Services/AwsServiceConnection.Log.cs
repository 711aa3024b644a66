using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Aws;

partial class AwsServiceConnection
{
    // Event ids 200-299 (CONTRIBUTING.md, Logging). A message received and not delivered is Error; a missing right that
    // only disables presence is Warning (the operator can grant it).
    private static partial class Log
    {
        [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "The service connection may not subscribe to {Filter} ({ErrorCode}); lifecycle events are unavailable.")]
        public static partial void PresenceUnavailable(ILogger logger, string filter, string errorCode);

        [LoggerMessage(EventId = 202, Level = LogLevel.Error, Message = "Dropped a message on {Topic} that is not a documented lifecycle event.")]
        public static partial void MalformedLifecycleEvent(ILogger logger, string topic);

        [LoggerMessage(EventId = 203, Level = LogLevel.Error, Message = "Dropped a telemetry message on {Topic} that is not a telemetry batch ({ErrorCode}).")]
        public static partial void MalformedTelemetry(ILogger logger, string topic, string errorCode);
    }
}
