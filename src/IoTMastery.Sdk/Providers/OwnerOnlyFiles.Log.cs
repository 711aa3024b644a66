using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk;

partial class OwnerOnlyFiles
{
    // Event ids 300-399 (CONTRIBUTING.md, Logging). The path is logged, never the file's contents.
    private static partial class Log
    {
        [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "{Path} holds secrets but its mode was {OldMode}, so others could read it; it is now {NewMode} (owner only). Check who may have copied it.")]
        public static partial void ModeTightened(ILogger logger, string path, string oldMode, string newMode);
    }
}
