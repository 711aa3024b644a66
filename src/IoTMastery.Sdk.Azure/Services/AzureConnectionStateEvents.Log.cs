using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Azure;

partial class AzureConnectionStateEvents
{
    // Event ids 200-299 (CONTRIBUTING.md, Logging). Faults the reader retries are Warning; a skipped event is a presence change
    // lost for good, so Error, as AzureTelemetryChannel's skipped telemetry.
    private static partial class Log
    {
        [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "Connection-state events: the endpoint's partitions could not be read ({Error}); retrying.")]
        public static partial void PartitionsUnreadable(ILogger logger, string error);

        [LoggerMessage(EventId = 202, Level = LogLevel.Error, Message = "Connection-state events: skipped event {Sequence} of partition {Partition} ({Error}).")]
        public static partial void EventSkipped(ILogger logger, long sequence, string partition, string error);

        [LoggerMessage(EventId = 203, Level = LogLevel.Warning, Message = "Connection-state events: partition {Partition} stopped ({Error}); reopening after sequence number {After}.")]
        public static partial void PartitionStopped(ILogger logger, string partition, string error, long? after);
    }
}
