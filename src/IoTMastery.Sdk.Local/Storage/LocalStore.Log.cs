using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

partial class LocalStore
{
    // Event ids 600-699 (CONTRIBUTING.md, Logging). The database path only, never the key.
    private static partial class Log
    {
        [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "The CA private key in {Path} was stored unencrypted by an older version; it is now re-encrypted and the old bytes overwritten. Copies and backups made before still hold it in clear.")]
        public static partial void KeyReencrypted(ILogger logger, string? path);

        [LoggerMessage(EventId = 602, Level = LogLevel.Warning, Message = "The CA private key in {Path} was stored unencrypted by an older version; it is now re-encrypted, but another connection kept the WAL busy, so the old bytes stay in the -wal file until its next checkpoint. Copies and backups made before still hold it in clear.")]
        public static partial void KeyReencryptedWalBusy(ILogger logger, string? path);
    }
}
