using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

partial class LocalBroker
{
    // Event ids 1-99 (CONTRIBUTING.md, Logging). Start and stop are Information; a refusal the client can act on (and
    // retry) is Warning; data the broker acknowledged but will never deliver is Error. Client ids and topics come from the
    // network and are escaped by the callers; credentials never reach these methods.
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Local broker listening on 127.0.0.1:{Port} (TLS, client certificates required).")]
        public static partial void Listening(ILogger logger, int port);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Local broker on port {Port} stopped.")]
        public static partial void Stopped(ILogger logger, int port);

        [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Closing the session of {DeviceId} failed ({ErrorCode}).")]
        public static partial void CloseSessionFailed(ILogger logger, string deviceId, string errorCode);

        [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Local broker refused client '{ClientId}': {Reason}.")]
        public static partial void ClientRefused(ILogger logger, string clientId, string reason);

        [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "The access policy failed for '{ClientId}'; the request is refused.")]
        public static partial void AccessPolicyFailed(ILogger logger, Exception exception, string? clientId);

        [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Local broker refused a {Route} publish of '{ClientId}': the device is restricted to firmware-update traffic until it reports the minimum version.")]
        public static partial void RestrictedPublishRefused(ILogger logger, DevicePublishRoute route, string clientId);

        [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Local broker refused a telemetry publish of '{ClientId}' ({Reason}); the device keeps the records and retries.")]
        public static partial void TelemetryPublishRefused(ILogger logger, string clientId, MQTTnet.Protocol.MqttPubAckReasonCode reason);

        [LoggerMessage(EventId = 8, Level = LogLevel.Debug, Message = "Reply {RequestId} from {DeviceId} matched no waiting command.")]
        public static partial void UnmatchedReply(ILogger logger, string requestId, string deviceId);

        [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "Local broker refused a publish of '{ClientId}' to '{Topic}'.")]
        public static partial void PublishRefused(ILogger logger, string clientId, string topic);

        [LoggerMessage(EventId = 10, Level = LogLevel.Error, Message = "Dropped a malformed telemetry batch from {DeviceId} ({ErrorCode}); it is acknowledged and not delivered.")]
        public static partial void MalformedTelemetryDropped(ILogger logger, string deviceId, string errorCode);

        [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "Dropped {Count} telemetry records from {DeviceId} that named another device.")]
        public static partial void ForeignRecordsDropped(ILogger logger, int count, string deviceId);

        [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "Dropped a reported-state payload from {DeviceId}: not a JSON object.")]
        public static partial void ReportedStateDropped(ILogger logger, string deviceId);

        [LoggerMessage(EventId = 13, Level = LogLevel.Error, Message = "Applying reported state of {DeviceId} failed.")]
        public static partial void ReportedStateFailed(ILogger logger, Exception exception, string deviceId);

        [LoggerMessage(EventId = 14, Level = LogLevel.Warning, Message = "Local broker refused a subscription of '{ClientId}' to '{Filter}'.")]
        public static partial void SubscriptionRefused(ILogger logger, string clientId, string filter);
    }
}
