using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

partial class LocalStateService
{
    // Event ids 400-499 (CONTRIBUTING.md, Logging).
    private static partial class Log
    {
        [LoggerMessage(EventId = 401, Level = LogLevel.Error, Message = "The stored state of device {DeviceId} is unreadable and was not republished.")]
        public static partial void StateUnreadable(ILogger logger, string deviceId);
    }
}
