using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk;

// The pipeline's log messages, source-generated (CONTRIBUTING.md, Logging); event ids 500-599 (Telemetry/). Levels: records
// dropped for good are Errors; what is retried or replayed later, or left for the next pipeline, is a Warning.
internal sealed partial class TelemetryPipeline
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 500, Level = LogLevel.Error, Message = "A telemetry record of device '{DeviceId}' is larger than one message may be; it is not sent.")]
        public static partial void RecordTooLarge(ILogger logger, string deviceId);

        [LoggerMessage(EventId = 501, Level = LogLevel.Error, Message = "A telemetry batch of {Count} records failed for good.")]
        public static partial void BatchFailed(ILogger logger, Exception exception, int count);

        // Its records were acknowledged once already (before an earlier batch's retry), so nothing is lost: only the
        // in-order copy is missing.
        [LoggerMessage(EventId = 502, Level = LogLevel.Warning, Message = "A telemetry batch of {Count} records sent again for order after an earlier batch's retry was not acknowledged ({Error}); its first copy was.")]
        public static partial void ReplayFailed(ILogger logger, int count, string error);

        [LoggerMessage(EventId = 503, Level = LogLevel.Warning, Message = "Telemetry drain did not finish within {Timeout}; abandoning {Pending} undelivered records.")]
        public static partial void DrainTimedOut(ILogger logger, TimeSpan timeout, long pending);

        [LoggerMessage(EventId = 504, Level = LogLevel.Error, Message = "The telemetry pipeline stopped with an unexpected error.")]
        public static partial void StoppedUnexpectedly(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 505, Level = LogLevel.Warning, Message = "The telemetry outbox could not be synced on close; unacknowledged records are replayed next time.")]
        public static partial void OutboxCloseFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 506, Level = LogLevel.Error, Message = "A telemetry batch of {Count} records failed permanently; they are removed from the outbox.")]
        public static partial void DurableBatchFailed(ILogger logger, Exception exception, int count);

        [LoggerMessage(EventId = 507, Level = LogLevel.Warning, Message = "The telemetry outbox could not record an acknowledgement; records up to {Sequence} may be replayed.")]
        public static partial void AcknowledgementNotRecorded(ILogger logger, Exception exception, long sequence);

        [LoggerMessage(EventId = 508, Level = LogLevel.Warning, Message = "Telemetry delivery failed transiently (cycle {Cycle}); replaying from the outbox in {Delay}.")]
        public static partial void ReplayingFromOutbox(ILogger logger, Exception exception, int cycle, TimeSpan delay);

        [LoggerMessage(EventId = 509, Level = LogLevel.Error, Message = "The telemetry pipeline stopped with an unexpected error; {Count} accepted records cannot be sent and count as failed.")]
        public static partial void RecordsStranded(ILogger logger, Exception exception, long count);
    }
}
