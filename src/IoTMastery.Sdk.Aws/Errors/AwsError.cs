using System.Net;
using System.Text.Json;

namespace IoTMastery.Sdk.Aws;

/// <summary>An AWS error response reduced to what classification needs (never the request or its credentials).</summary>
internal sealed record AwsError(HttpStatusCode Status, string? Code, string? Message, string? RequestId, TimeSpan? RetryAfter)
{
    private static readonly HashSet<string> ThrottleCodes = new(StringComparer.Ordinal)
    {
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
        "BandwidthLimitExceeded", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    };

    private static readonly HashSet<string> TransientCodes = new(StringComparer.Ordinal)
    {
        "RequestTimeout", "RequestTimeoutException", "ServiceUnavailableException", "InternalFailureException",
        "InternalServerException", "InternalException", "GatewayTimeoutException",
    };

    private static readonly HashSet<string> ClockSkewCodes = new(StringComparer.Ordinal)
    {
        "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture", "InvalidSignatureException", "SignatureDoesNotMatch",
    };

    /// <summary>
    /// Parses an error response in botocore/Smithy order: the x-amzn-ErrorType header, then body "code"/"Code",
    /// then body "__type"; the code is cut at the first ':' and keeps what follows the last '#'.
    /// </summary>
    public static AwsError Parse(HttpStatusCode status, Func<string, string?> header, ReadOnlySpan<byte> body)
    {
        string? code = header("x-amzn-ErrorType");
        string? message = null;
        if (body.Length > 0)
        {
            try
            {
                using var doc = JsonDocument.Parse(body.ToArray());
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    code ??= Str(doc.RootElement, "code") ?? Str(doc.RootElement, "Code") ?? Str(doc.RootElement, "__type");
                    message = Str(doc.RootElement, "message") ?? Str(doc.RootElement, "Message");
                }
            }
            // Invalid UTF-8 or lone surrogates in a string (and, for JsonNode, duplicate keys) surface only when read, not at parse.
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                // A non-JSON error body (a proxy's HTML page) still has a status to classify by.
            }
        }
        TimeSpan? retryAfter = int.TryParse(header("Retry-After"), out var seconds) && seconds >= 0 ? TimeSpan.FromSeconds(seconds) : null;
        // restJson1 services send x-amzn-RequestId; S3-style ones x-amz-request-id.
        return new AwsError(status, Sanitize(code), message, header("x-amzn-RequestId") ?? header("x-amz-request-id"), retryAfter);

        static string? Str(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    /// <summary>Cuts "Code:http://internal…" at the colon and "ns#Code" at the hash.</summary>
    public static string? Sanitize(string? code)
    {
        if (string.IsNullOrWhiteSpace(code)) return null;
        var colon = code.IndexOf(':');
        if (colon >= 0) code = code[..colon];
        var hash = code.LastIndexOf('#');
        if (hash >= 0) code = code[(hash + 1)..];
        code = code.Trim();
        return code.Length == 0 ? null : code;
    }

    /// <summary>Throttling by code (control-plane throttling is HTTP 400) or by a bare 429.</summary>
    public bool IsThrottle => (Code is not null && ThrottleCodes.Contains(Code)) || Status == HttpStatusCode.TooManyRequests;

    /// <summary>5xx and transient codes, retried for idempotent operations.</summary>
    public bool IsTransient => (Code is not null && TransientCodes.Contains(Code)) || (int)Status is 500 or 502 or 503 or 504;

    /// <summary>The request was signed with a clock the service disagrees with.</summary>
    public bool IsClockSkew => IsClockSkewCode(Code);

    /// <summary>Whether an error code says the request's signing time was refused.</summary>
    public static bool IsClockSkewCode(string? code) => code is not null && ClockSkewCodes.Contains(code);

    /// <summary>
    /// Maps to the SDK's exception hierarchy; LimitExceeded is a quota, not a rate. Every mapped error carries the
    /// request id and HTTP status (<see cref="IoTException.RequestId"/>, <see cref="IoTException.HttpStatus"/>).
    /// </summary>
    public IoTException ToException(string operation, string? deviceId = null) => Map(operation, deviceId).WithResponse(RequestId, (int)Status);

    private IoTException Map(string operation, string? deviceId)
    {
        var text = $"AWS IoT {operation} failed: {(int)Status} {Code ?? "(no error code)"}{(Message is null ? "" : ": " + Message)}{(RequestId is null ? "" : $" (request id {RequestId})")}";
        const string provider = AwsIoTProvider.ProviderName;
        if (IsThrottle) return IoTException.Throttled(text, provider, Code ?? "Throttling", RetryAfter);
        return Code switch
        {
            "LimitExceededException" or "ServiceQuotaExceededException" => new IoTException(IoTErrorKind.QuotaExceeded, text, provider, Code, retryAfter: RetryAfter),
            "ResourceNotFoundException" when deviceId is not null => IoTException.DeviceNotFound(deviceId, provider, Code),
            "ResourceNotFoundException" => new IoTException(IoTErrorKind.NotFound, text, provider, Code),
            "ResourceAlreadyExistsException" => new IoTException(IoTErrorKind.AlreadyExists, text, provider, Code),
            "VersionConflictException" or "ConflictException" or "VersionMismatch" => IoTException.PreconditionFailed(text, provider, Code),
            "UnauthorizedException" or "InvalidSignatureException" or "SignatureDoesNotMatch" or "UnrecognizedClientException"
                or "InvalidClientTokenId" or "ExpiredTokenException" or "CertificateValidationException" => new IoTException(IoTErrorKind.Authentication, text, provider, Code),
            "ForbiddenException" or "AccessDeniedException" => new IoTException(IoTErrorKind.Authorization, text, provider, Code),
            "RequestEntityTooLargeException" => new IoTException(IoTErrorKind.PayloadTooLarge, text, provider, Code),
            _ when Status == HttpStatusCode.NotFound && deviceId is not null => IoTException.DeviceNotFound(deviceId, provider, Code),
            _ when Status == HttpStatusCode.Unauthorized => new IoTException(IoTErrorKind.Authentication, text, provider, Code),
            _ when Status == HttpStatusCode.Forbidden => new IoTException(IoTErrorKind.Authorization, text, provider, Code),
            _ when Status == HttpStatusCode.RequestEntityTooLarge => new IoTException(IoTErrorKind.PayloadTooLarge, text, provider, Code),
            _ => new IoTException(IoTErrorKind.Unknown, text, provider, Code ?? ((int)Status).ToString(System.Globalization.CultureInfo.InvariantCulture), IsTransient || IsClockSkew, RetryAfter),
        };
    }
}
