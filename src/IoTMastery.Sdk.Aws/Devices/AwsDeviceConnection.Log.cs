using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Aws;

partial class AwsDeviceConnection
{
    // Event ids 1-99 (CONTRIBUTING.md, Logging). A rejected shadow update is a reported state AWS will not store: Error.
    // AWS's rejection message is the service's own text about the document (no secret), escaped as it comes off the wire.
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Device {DeviceId} could not request its current shadow ({ErrorCode}); the next delta or reconnect asks again.")]
        public static partial void ShadowGetFailed(ILogger logger, string deviceId, string errorCode);

        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "AWS IoT rejected a shadow update of {DeviceId}: {Code} {Reason}")]
        public static partial void ShadowUpdateRejected(ILogger logger, string deviceId, int? code, string reason);
    }
}
