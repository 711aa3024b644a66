using System.Net;
using System.Text.Json;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// Maps a Google REST error (<c>{"error":{"code","message","status"}}</c>) to the SDK's typed errors.
/// Classifies by <c>error.status</c> because HTTP 409 and 400 are ambiguous (ALREADY_EXISTS vs ABORTED).
/// </summary>
internal static class GoogleApiErrors
{
    public const string Provider = "Gcp";

    /// <summary>The canonical status for an HTTP status when the body names none (google/rpc/code.proto mapping).</summary>
    public static string StatusFromHttp(HttpStatusCode code) => (int)code switch
    {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        >= 500 => "INTERNAL",
        _ => "UNKNOWN",
    };

    /// <summary>Reads status and message from an error body, falling back to the HTTP status.</summary>
    public static (string Status, string Message) Parse(HttpStatusCode code, string? body)
    {
        string status = StatusFromHttp(code);
        string message = $"HTTP {(int)code}";
        if (string.IsNullOrEmpty(body)) return (status, message);
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                if (error.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String && !string.IsNullOrEmpty(s.GetString())) status = s.GetString()!;
                if (error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String) message = Truncate(m.GetString()!);
            }
        }
        // Invalid UTF-8 or lone surrogates in a string (and, for JsonNode, duplicate keys) surface only when read, not at parse.
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // A proxy's HTML error page: keep the HTTP mapping.
        }
        return (status, message);
    }

    /// <summary>
    /// Builds the typed exception for a failed call, with <see cref="IoTException.HttpStatus"/> when it came from an answer.
    /// Google-style REST answers carry no request id header (neither Cloud IoT v1 nor ClearBlade sends one, and the error
    /// body has none), so <see cref="IoTException.RequestId"/> stays <see langword="null"/> on this provider.
    /// </summary>
    public static IoTException ToException(string operation, string status, string message, TimeSpan? retryAfter, int? httpStatus = null) =>
        Map(operation, status, message, retryAfter).WithResponse(null, httpStatus);

    private static IoTException Map(string operation, string status, string message, TimeSpan? retryAfter)
    {
        string text = $"{operation} failed: {status}: {message}";
        return status switch
        {
            "NOT_FOUND" => new IoTException(IoTErrorKind.NotFound, text, Provider, status),
            "ALREADY_EXISTS" => new IoTException(IoTErrorKind.AlreadyExists, text, Provider, status),
            "UNAUTHENTICATED" => new IoTException(IoTErrorKind.Authentication, text, Provider, status),
            "PERMISSION_DENIED" => new IoTException(IoTErrorKind.Authorization, text, Provider, status),
            "RESOURCE_EXHAUSTED" => IoTException.Throttled(text, Provider, status, retryAfter),
            "UNAVAILABLE" or "DEADLINE_EXCEEDED" or "INTERNAL" or "UNKNOWN" or "ABORTED" or "CANCELLED"
                => new IoTException(IoTErrorKind.Unknown, text, Provider, status, isTransient: true, retryAfter: retryAfter),
            _ => new IoTException(IoTErrorKind.Unknown, text, Provider, status),
        };
    }

    private static string Truncate(string s) => s.Length <= 500 ? s : s[..500] + "…";
}
