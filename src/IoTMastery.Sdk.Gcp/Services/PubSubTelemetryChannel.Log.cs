using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Gcp;

partial class PubSubTelemetryChannel
{
    // Event ids 200-299 (CONTRIBUTING.md, Logging). Acknowledged without delivery is data lost for good: Error.
    private static partial class Log
    {
        [LoggerMessage(EventId = 201, Level = LogLevel.Error, Message = "Pub/Sub message {MessageId} is not a telemetry batch and was acknowledged without delivery ({ErrorCode}).")]
        public static partial void UndecodableMessage(ILogger logger, string messageId, string errorCode);
    }
}
