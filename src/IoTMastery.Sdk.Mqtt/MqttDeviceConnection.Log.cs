using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Mqtt;

partial class MqttDeviceConnection
{
    // Event ids 100-199 (CONTRIBUTING.md, Logging). A reply or a desired-state change that is not delivered is lost: Error.
    private static partial class Log
    {
        [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Device {DeviceId}: the reply to command '{Command}' was not delivered ({ErrorCode}); the caller sees a timeout.")]
        public static partial void ReplyNotDelivered(ILogger logger, string deviceId, string command, string errorCode);

        [LoggerMessage(EventId = 102, Level = LogLevel.Error, Message = "The desired-state handler of {DeviceId} failed for version {Version}; that version is not delivered again.")]
        public static partial void DesiredHandlerFailed(ILogger logger, Exception exception, string deviceId, long version);

        [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "{Count} handlers of {DeviceId} did not end within {Timeout} of the dispose; closing the connection under them.")]
        public static partial void HandlersOutlivedDispose(ILogger logger, int count, string deviceId, TimeSpan timeout);
    }
}
