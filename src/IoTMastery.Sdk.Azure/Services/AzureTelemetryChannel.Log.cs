using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Azure;

partial class AzureTelemetryChannel
{
    // Event ids 100-199 (CONTRIBUTING.md, Logging). A skipped event is checkpointed past and never delivered: Error.
    private static partial class Log
    {
        [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Skipped event {Sequence} of partition {Partition}: {Problem}.")]
        public static partial void EventSkipped(ILogger logger, long sequence, string partition, string problem);
    }
}
