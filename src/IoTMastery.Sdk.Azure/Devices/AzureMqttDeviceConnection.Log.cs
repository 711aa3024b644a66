using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Azure;

partial class AzureMqttDeviceConnection
{
    // Event ids 1-99 (CONTRIBUTING.md, Logging). A message the device received and does not deliver is Error; a twin
    // read that fails is read again on the next reconnect or patch: Warning. The SAS token is never a parameter.
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Device {DeviceId} ignored a method request on unexpected topic '{Topic}'.")]
        public static partial void UnexpectedMethodTopic(ILogger logger, string deviceId, string topic);

        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "A cloud-to-device message for {DeviceId} arrived without a handler and was dropped.")]
        public static partial void CloudToDeviceWithoutHandler(ILogger logger, string deviceId);

        [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "The cloud-to-device handler of {DeviceId} failed; the message is not delivered again.")]
        public static partial void CloudToDeviceHandlerFailed(ILogger logger, Exception exception, string deviceId);

        [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "Device {DeviceId} ignored a desired-properties patch that is not a JSON object.")]
        public static partial void DesiredPatchDropped(ILogger logger, string deviceId);

        [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Reading the twin of {DeviceId} failed ({ErrorCode}); it is read again on the next reconnect.")]
        public static partial void TwinReadFailed(ILogger logger, string deviceId, string errorCode);
    }
}
