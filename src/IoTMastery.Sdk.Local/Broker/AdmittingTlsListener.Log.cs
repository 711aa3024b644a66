using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

partial class AdmittingTlsListener
{
    // Event ids 100-199 (CONTRIBUTING.md, Logging). Per-connection detail is Debug (a client that gives up or offers no
    // certificate is normal on an open port); a connection that failed in the broker itself is Error.
    private static partial class Log
    {
        [LoggerMessage(EventId = 101, Level = LogLevel.Debug, Message = "Local broker: accepting a connection failed ({SocketError}).")]
        public static partial void AcceptFailed(ILogger logger, System.Net.Sockets.SocketError socketError);

        [LoggerMessage(EventId = 102, Level = LogLevel.Error, Message = "Local broker: a client connection failed.")]
        public static partial void ConnectionFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 103, Level = LogLevel.Debug, Message = "Local broker: a TLS handshake failed ({ErrorCode}).")]
        public static partial void HandshakeFailed(ILogger logger, string errorCode);

        [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "Local broker: closed a connection without a handshake: {Reason}.")]
        public static partial void RefusedBeforeHandshake(ILogger logger, string reason);
    }
}
