using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure;

/// <summary>An IoT Hub error as parsed from any of its three body formats.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Code">The six-digit error code (for example 404001), or the HTTP status times 1000 when the body had none.</param>
/// <param name="Name">The error name (for example <c>DeviceNotFound</c>), when the hub sent one.</param>
/// <param name="Message">The hub's message, when it sent one (never contains our secrets: it is the hub's text).</param>
/// <param name="RequestId">The <c>x-ms-request-id</c> header, else the error's <c>trackingId</c> (the id IoT Hub support asks for).</param>
internal sealed record IotHubError(int Status, int Code, string? Name, string? Message, string? RequestId = null);

/// <summary>
/// Parses IoT Hub error responses: JSON inside <c>Message</c>, the legacy <c>ErrorCode:Name;text</c> prefix, and the
/// <c>iothub-errorcode</c> header, in that order, falling back to the HTTP status; and maps them to the shared error hierarchy.
/// </summary>
internal static class IotHubErrors
{
    internal const string Provider = "Azure";

    private static readonly Dictionary<string, int> CodesByName = new(StringComparer.OrdinalIgnoreCase)
    {
        ["InvalidProtocolVersion"] = 400001, ["ArgumentInvalid"] = 400004, ["ArgumentNull"] = 400005, ["IotHubFormatError"] = 400006,
        ["DeviceDefinedMultipleTimes"] = 400011, ["BulkRegistryOperationFailure"] = 400013, ["ConnectionForcefullyClosedOnNewConnection"] = 400027,
        ["IotHubUnauthorizedAccess"] = 401002, ["IotHubUnauthorized"] = 401003, ["IotHubQuotaExceeded"] = 403002,
        ["DeviceMaximumQueueDepthExceeded"] = 403004, ["DeviceMaximumActiveFileUploadLimitExceeded"] = 403006,
        ["DeviceNotFound"] = 404001, ["ModuleNotFound"] = 404010, ["DeviceNotOnline"] = 404103, ["DeviceConnectionClosedRemotely"] = 404104,
        ["DeviceAlreadyExists"] = 409001, ["ModuleAlreadyExistsOnDevice"] = 409301, ["PreconditionFailed"] = 412001,
        ["DeviceMessageLockLost"] = 412002, ["MessageTooLarge"] = 413001, ["TooManyDevices"] = 413002,
        ["ThrottlingException"] = 429001, ["ThrottleBacklogLimitExceeded"] = 429002, ["ThrottlingBacklogTimeout"] = 429003,
        ["ThrottlingMaxActiveJobCountExceeded"] = 429004, ["DeviceThrottlingLimitExceeded"] = 429005,
        ["ServerError"] = 500001, ["ServiceUnavailable"] = 503001, ["GatewayTimeout"] = 504101,
    };

    /// <summary>Parses an error response body and headers.</summary>
    /// <param name="status">The HTTP status (or the status of an MQTT twin or DPS answer, which IoT Hub gives in HTTP terms).</param>
    /// <param name="body">The response body.</param>
    /// <param name="errorCodeHeader">The <c>iothub-errorcode</c> header.</param>
    /// <param name="requestIdHeader">The <c>x-ms-request-id</c> header, when the answer had one.</param>
    public static IotHubError Parse(int status, string? body, string? errorCodeHeader, string? requestIdHeader = null)
    {
        string? name = null, message = null, trackingId = null;
        int? code = null;
        if (!string.IsNullOrWhiteSpace(body))
        {
            try
            {
                if (JsonNode.Parse(body) is JsonObject root)
                {
                    var text = root["Message"] is JsonValue m && m.GetValueKind() == JsonValueKind.String ? m.GetValue<string>() : null;
                    // Format 2: a JSON document serialized inside "Message".
                    if (text is not null && text.TrimStart().StartsWith('{') && TryParseObject(text) is { } inner)
                    {
                        (code, name, message) = FromObject(inner);
                        trackingId = StringOf(inner["trackingId"]);
                    }
                    // Format 1: "ErrorCode:DeviceAlreadyExists;Conflict".
                    else if (text is not null && text.StartsWith("ErrorCode:", StringComparison.OrdinalIgnoreCase))
                    {
                        var rest = text["ErrorCode:".Length..];
                        var semi = rest.IndexOf(';', StringComparison.Ordinal);
                        var token = semi < 0 ? rest : rest[..semi];
                        message = semi < 0 ? null : rest[(semi + 1)..];
                        (code, name) = FromToken(token.Trim());
                    }
                    else if (root.ContainsKey("errorCode"))
                    {
                        (code, name, message) = FromObject(root);
                        trackingId = StringOf(root["trackingId"]);
                    }
                    else
                        message = text;
                }
            }
            // Invalid UTF-8 or lone surrogates in a string (and, for JsonNode, duplicate keys) surface only when read, not at parse.
            catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
            {
                code = null;
                name = null;
                message = body.Length > 200 ? body[..200] : body;
            }
        }
        // Format 3: the header, trusted only when the body gave nothing or agrees with it.
        if (code is null && !string.IsNullOrEmpty(errorCodeHeader))
            (code, name) = FromToken(errorCodeHeader.Trim());
        return new IotHubError(status, code ?? status * 1000, name, message, string.IsNullOrWhiteSpace(requestIdHeader) ? trackingId : requestIdHeader);
    }

    private static string? StringOf(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    /// <summary>
    /// Maps a parsed error to the shared hierarchy; <paramref name="deviceId"/> names the device the call was about. The
    /// error carries the request id and status (<see cref="IoTException.RequestId"/>, <see cref="IoTException.HttpStatus"/>).
    /// </summary>
    public static IoTException ToException(IotHubError error, string? deviceId, TimeSpan? retryAfter) =>
        Map(error, deviceId, retryAfter).WithResponse(error.RequestId, error.Status);

    private static IoTException Map(IotHubError error, string? deviceId, TimeSpan? retryAfter)
    {
        var code = error.Code.ToString(CultureInfo.InvariantCulture);
        var what = error.Name is null ? code : $"{error.Name} ({code})";
        var detail = $"IoT Hub answered {error.Status}: {what}" + (string.IsNullOrEmpty(error.Message) ? "." : $": {Trim(error.Message)}");
        return (error.Status, error.Code) switch
        {
            (_, 404103) when deviceId is not null => IoTException.DeviceOffline(deviceId, Provider, code),
            (404, 404001) when deviceId is not null => IoTException.DeviceNotFound(deviceId, Provider, code),
            (404, _) => new IoTException(IoTErrorKind.NotFound, detail, Provider, code),
            (409, _) => new IoTException(IoTErrorKind.AlreadyExists, detail, Provider, code),
            (412, 412002) => new IoTException(IoTErrorKind.Unknown, detail, Provider, code),
            (412, _) => IoTException.PreconditionFailed(detail, Provider, code),
            (429, _) => IoTException.Throttled(detail, Provider, code, retryAfter),
            (403, 403002) => new IoTException(IoTErrorKind.QuotaExceeded, detail, Provider, code, retryAfter: retryAfter),
            (401, _) => new IoTException(IoTErrorKind.Authentication, detail, Provider, code),
            (403, _) => new IoTException(IoTErrorKind.Authorization, detail, Provider, code),
            (413, _) => new IoTException(IoTErrorKind.PayloadTooLarge, detail, Provider, code),
            (408, _) or (500, _) or (502, _) or (503, _) or (504, _) => new IoTException(IoTErrorKind.Unknown, detail, Provider, code, isTransient: true, retryAfter),
            _ => new IoTException(IoTErrorKind.Unknown, detail, Provider, code),
        };
    }

    /// <summary>Whether a request that failed with <paramref name="error"/> certainly was not carried out, so even a non-idempotent call may be repeated.</summary>
    public static bool WasNotProcessed(IoTException error) => error.Kind == IoTErrorKind.Throttled || error.ErrorCode is "503001" or "503000";

    /// <summary>Reads a <c>Retry-After</c> header (seconds or HTTP date).</summary>
    public static TimeSpan? RetryAfter(System.Net.Http.Headers.RetryConditionHeaderValue? header, DateTimeOffset now) =>
        header?.Delta ?? (header?.Date is { } date ? (date - now is var d && d > TimeSpan.Zero ? d : TimeSpan.Zero) : null);

    private static JsonObject? TryParseObject(string text)
    {
        try { return JsonNode.Parse(text) as JsonObject; }
        catch (JsonException) { return null; }
    }

    private static (int?, string?, string?) FromObject(JsonObject obj)
    {
        var message = obj["message"] is JsonValue mv && mv.GetValueKind() == JsonValueKind.String ? mv.GetValue<string>() : null;
        var node = obj["errorCode"];
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var number))
            return (FirstSixDigits(number), NameOf(FirstSixDigits(number)), message);
        if (node is JsonValue s && s.GetValueKind() == JsonValueKind.String)
        {
            var (code, name) = FromToken(s.GetValue<string>());
            return (code, name, message);
        }
        return (null, null, message);
    }

    private static (int?, string?) FromToken(string token)
    {
        if (long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            return (FirstSixDigits(number), NameOf(FirstSixDigits(number)));
        return CodesByName.TryGetValue(token, out var code) ? (code, token) : (null, token);
    }

    private static int FirstSixDigits(long number)
    {
        var text = number.ToString(CultureInfo.InvariantCulture);
        return int.Parse(text.Length > 6 ? text[..6] : text, CultureInfo.InvariantCulture);
    }

    private static string? NameOf(int code) => CodesByName.FirstOrDefault(p => p.Value == code).Key;

    private static string Trim(string message) => message.Length <= 300 ? message : message[..300] + "…";

    internal static HttpStatusCode StatusOf(IotHubError error) => (HttpStatusCode)error.Status;
}
