using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

partial class LocalDeviceConnection
{
    // Event ids 200-299 (CONTRIBUTING.md, Logging). A message the device received but does not act on, and a reply
    // replaced by a 500, are lost for good: Error.
    private static partial class Log
    {
        [LoggerMessage(EventId = 201, Level = LogLevel.Error, Message = "Device {DeviceId} ignored a command on unexpected topic '{Topic}'.")]
        public static partial void UnexpectedCommandTopic(ILogger logger, string deviceId, string topic);

        [LoggerMessage(EventId = 202, Level = LogLevel.Error, Message = "Device {DeviceId}: the handler's reply to command '{Command}' breaks a limit ({Limit}); answering 500 instead.")]
        public static partial void ReplyBreaksLimit(ILogger logger, string deviceId, string command, string? limit);

        [LoggerMessage(EventId = 203, Level = LogLevel.Error, Message = "Device {DeviceId} ignored a desired-state document that is not JSON with a numeric version and a desired object.")]
        public static partial void DesiredStateDropped(ILogger logger, string deviceId);
    }
}
