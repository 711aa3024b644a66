using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Gcp;

partial class GcpCommandService
{
    // Event ids 100-199 (CONTRIBUTING.md, Logging).
    private static partial class Log
    {
        [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Pulling command replies failed ({ErrorCode}); pulling again after a pause.")]
        public static partial void ReplyPullFailed(ILogger logger, string errorCode);
    }
}
