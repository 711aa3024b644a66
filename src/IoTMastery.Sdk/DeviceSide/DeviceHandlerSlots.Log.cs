using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk;

partial class DeviceHandlerSlots
{
    // Event ids 400-499 (CONTRIBUTING.md, Logging). A handler that threw did not do its work and is not retried: Error.
    private static partial class Log
    {
        [LoggerMessage(EventId = 401, Level = LogLevel.Error, Message = "The command handler failed for '{Command}'; answering 500.")]
        public static partial void CommandHandlerFailed(ILogger logger, Exception exception, string command);
    }
}
