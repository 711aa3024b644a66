using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

partial class LocalTelemetryJournal
{
    // Event ids 300-399 (CONTRIBUTING.md, Logging). Nothing here loses records: a refused publish is retried by the
    // device and an unrecorded acknowledgement replays, so all are Warning.
    private static partial class Log
    {
        [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "The telemetry journal could not store a batch of {Count} records; the publish is refused and the device keeps them.")]
        public static partial void StoreFailed(ILogger logger, Exception exception, int count);

        [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "The telemetry journal could not be synced on close; what it accepted was already written and is replayed next time.")]
        public static partial void SyncOnCloseFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 303, Level = LogLevel.Warning, Message = "The telemetry journal could not record an acknowledgement; records up to {Sequence} may be replayed.")]
        public static partial void AcknowledgementFailed(ILogger logger, Exception exception, long sequence);
    }
}
