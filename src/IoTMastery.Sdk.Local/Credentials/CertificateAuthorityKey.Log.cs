using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

partial class CertificateAuthorityKey
{
    // Event ids 500-599 (CONTRIBUTING.md, Logging). The file's path only, never the key.
    private static partial class Log
    {
        [LoggerMessage(EventId = 501, Level = LogLevel.Information, Message = "Created the CA key file {Path} (owner only). Keep it with the database: without it the CA cannot be loaded.")]
        public static partial void KeyFileCreated(ILogger logger, string? path);
    }
}
