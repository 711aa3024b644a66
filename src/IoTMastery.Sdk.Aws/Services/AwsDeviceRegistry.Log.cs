using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Aws;

partial class AwsDeviceRegistry
{
    // Event ids 100-199 (CONTRIBUTING.md, Logging). The certificate id is public (it is in the ARN), never its PEM or key.
    private static partial class Log
    {
        [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Attaching certificate {CertificateId} to {Thing} failed ({ErrorCode}); deleting it, the registration fails and may be repeated.")]
        public static partial void AttachFailed(ILogger logger, string certificateId, string thing, string errorCode);
    }
}
