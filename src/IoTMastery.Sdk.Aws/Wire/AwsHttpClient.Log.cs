using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Aws;

partial class AwsHttpClient
{
    // Event ids 300-399 (CONTRIBUTING.md, Logging). The offset only: never the signature, the key or the request.
    private static partial class Log
    {
        [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "AWS rejected a request for clock skew; signing with a {Offset} offset from now on and sending it again.")]
        public static partial void ClockSkew(ILogger logger, TimeSpan offset);
    }
}
