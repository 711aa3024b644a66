using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Gcp;

partial class GcpDeviceConnection
{
    // Event ids 1-99 (CONTRIBUTING.md, Logging). A command the device does not run, or whose handler threw, is not retried:
    // Error, as on the other providers.
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Device {DeviceId} dropped a command in subfolder {Subfolder} that is not an IoTMastery request.")]
        public static partial void ForeignCommandDropped(ILogger logger, string deviceId, string? subfolder);

        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "The command handler of {DeviceId} failed for '{Command}'; answering 500.")]
        public static partial void CommandHandlerFailed(ILogger logger, Exception exception, string deviceId, string command);
    }
}
