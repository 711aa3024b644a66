using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Mqtt;

partial class MqttDeviceClient
{
    // Event ids 1-99 (CONTRIBUTING.md, Logging). Connect and a requested disconnect are Information; a lost connection, a
    // retried attempt and a renewal that did not go to plan are Warning; what is lost for good (a subscription, the
    // connection after a terminal refusal, a message a handler failed on) is Error. Failures are logged by code or type,
    // never by message, and credentials never: the options' password and keys are not parameters of any of these.
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "MQTT client {ClientId} connected to {Host}:{Port}.")]
        public static partial void Connected(ILogger logger, string clientId, string host, int port);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "MQTT client {ClientId} disconnected on request.")]
        public static partial void Disconnected(ILogger logger, string clientId);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "MQTT client {ClientId} lost its connection ({Reason}); reconnecting.")]
        public static partial void ConnectionLost(ILogger logger, string clientId, MQTTnet.MqttClientDisconnectReason reason);

        [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "MQTT client {ClientId}: connect attempt {Attempt} failed with {ErrorCode}; retrying in {Delay}.")]
        public static partial void ConnectRetrying(ILogger logger, string clientId, int attempt, string errorCode, TimeSpan delay);

        [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "MQTT client {ClientId}: reconnect attempt {Attempt} failed with {ErrorCode}; retrying.")]
        public static partial void ReconnectAttemptFailed(ILogger logger, string clientId, int attempt, string errorCode);

        [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "MQTT client {ClientId} stopped reconnecting: {ErrorCode} will not fix itself.")]
        public static partial void StoppedReconnecting(ILogger logger, string clientId, string errorCode);

        [LoggerMessage(EventId = 7, Level = LogLevel.Debug, Message = "MQTT client {ClientId}: the disconnect was not clean ({ErrorCode}).")]
        public static partial void DisconnectNotClean(ILogger logger, string clientId, string errorCode);

        [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "MQTT client {ClientId}: a subscription was refused after reconnecting ({ErrorCode}); its messages are not received.")]
        public static partial void SubscriptionRefusedOnReconnect(ILogger logger, string clientId, string errorCode);

        [LoggerMessage(EventId = 9, Level = LogLevel.Error, Message = "MQTT client {ClientId}: the handler for '{Filter}' failed; the message is not handled again.")]
        public static partial void SubscriptionHandlerFailed(ILogger logger, Exception exception, string clientId, string filter);

        [LoggerMessage(EventId = 10, Level = LogLevel.Error, Message = "MQTT client {ClientId}: a {Event} event handler failed.")]
        public static partial void EventHandlerFailed(ILogger logger, Exception exception, string clientId, string @event);

        [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "MQTT client {ClientId} got a credential that expires in {Remaining}, within the renewal margin {Margin}; renewing in {Due}.")]
        public static partial void CredentialWithinMargin(ILogger logger, string clientId, TimeSpan remaining, TimeSpan margin, TimeSpan due);

        [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "MQTT client {ClientId} could not reconnect with renewed credentials ({ErrorCode}); the reconnect loop retries.")]
        public static partial void RenewalReconnectFailed(ILogger logger, string clientId, string errorCode);

        [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "MQTT client {ClientId}: {Count} publishes were not acknowledged within {Bound} before the credential renewal; reconnecting anyway, they may be sent again.")]
        public static partial void RenewalDrainTimedOut(ILogger logger, string clientId, int count, TimeSpan bound);
    }
}
