using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Http;

partial class HttpRetryPipeline
{
    // Event ids 200-299 (CONTRIBUTING.md, Logging). A retry is a transient fault being handled: Warning.
    private static partial class Log
    {
        [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "{Provider} HTTP retry {Attempt} after {Delay}: {ErrorCode}.")]
        public static partial void Retrying(ILogger logger, string provider, int attempt, TimeSpan delay, string? errorCode);

        [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "{Provider} HTTP retry not attempted: Retry-After {RetryAfter} exceeds {Limit} ({ErrorCode}); the failure goes to the caller.")]
        public static partial void RetryAfterTooLong(ILogger logger, string provider, TimeSpan retryAfter, TimeSpan limit, string? errorCode);
    }
}
