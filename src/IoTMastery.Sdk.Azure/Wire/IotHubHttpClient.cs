using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Http;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Azure;

/// <summary>A successful IoT Hub REST response.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Body">The parsed JSON body; <see langword="null"/> when empty.</param>
/// <param name="Headers">The response headers (ETag, x-ms-continuation, …), names lower-case.</param>
internal sealed record IotHubResponse(int Status, JsonNode? Body, IReadOnlyDictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.GetValueOrDefault(name.ToLowerInvariant());
}

/// <summary>
/// Sends IoT Hub service REST requests (api-version 2021-04-12) with the right headers, parses the three error
/// formats and retries transient failures within a bound. Non-idempotent requests are repeated only when the hub
/// certainly did not process them (429, 503).
/// </summary>
internal sealed class IotHubHttpClient
{
    public const string ApiVersion = "2021-04-12";
    private static readonly MediaTypeHeaderValue JsonContentType = MediaTypeHeaderValue.Parse("application/json; charset=utf-8");
    private readonly HttpClient _http;
    private readonly IServiceAuthorization _authorization;
    private readonly Uri _endpoint;
    private readonly string _hostName;
    private readonly TimeProvider _time;
    private readonly HttpRetryPipeline _retry;
    private readonly TimeSpan _requestTimeout;

    public IotHubHttpClient(HttpClient http, IServiceAuthorization authorization, string hostName, Uri? endpoint, HttpRetryBounds retry, TimeSpan requestTimeout,
        TimeProvider time, ILogger? logger = null)
    {
        _http = http;
        _authorization = authorization;
        _hostName = hostName;
        _endpoint = endpoint ?? new Uri("https://" + hostName);
        _time = time;
        _requestTimeout = requestTimeout;
        _retry = new HttpRetryPipeline(IotHubErrors.Provider, retry, time, logger, "IoTMastery.Sdk.Azure.Service");
    }

    /// <summary>The hub host name (the SAS audience).</summary>
    public string HostName => _hostName;

    /// <summary>Sends one request; throws an <see cref="IoTException"/> mapped from the hub's error.</summary>
    /// <param name="method">The HTTP method.</param>
    /// <param name="path">The path (already percent-encoded) with an optional query, without api-version.</param>
    /// <param name="body">The JSON body, if any.</param>
    /// <param name="headers">Extra headers (If-Match, x-ms-continuation …).</param>
    /// <param name="idempotent">Whether repeating the request after an uncertain failure is safe.</param>
    /// <param name="deviceId">The device the call is about, for error mapping.</param>
    /// <param name="timeout">The per-attempt timeout; <see cref="IoTTransportOptions.RequestTimeout"/> by default.</param>
    /// <param name="acceptErrorCode">An HTTP status whose body is a result, not an error (bulk registry 400).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<IotHubResponse> SendAsync(HttpMethod method, string path, JsonNode? body = null, IEnumerable<KeyValuePair<string, string>>? headers = null,
        bool idempotent = true, string? deviceId = null, TimeSpan? timeout = null, int? acceptErrorCode = null, CancellationToken cancellationToken = default)
    {
        return await _retry.ExecuteAsync(
            static (s, ct) => new ValueTask<IotHubResponse>(s.self.SendOnceAsync(s.method, s.path, s.body, s.headers, s.deviceId, s.timeout, s.acceptErrorCode, ct)),
            (self: this, method, path, body, headers, deviceId, timeout: timeout ?? _requestTimeout, acceptErrorCode),
            idempotent ? IsRetryable : IsRetryableUnprocessed, method, _endpoint, cancellationToken).ConfigureAwait(false);
    }

    // A device that is not connected is transient for the caller, not for this request: resending it now cannot help.
    private static bool IsRetryable(IoTException error) => error.IsTransient && error.Kind != IoTErrorKind.DeviceOffline;

    // A non-idempotent request is repeated only when the hub certainly did not process it (429, 503).
    private static bool IsRetryableUnprocessed(IoTException error) => IsRetryable(error) && IotHubErrors.WasNotProcessed(error);

    private async Task<IotHubResponse> SendOnceAsync(HttpMethod method, string path, JsonNode? body, IEnumerable<KeyValuePair<string, string>>? headers,
        string? deviceId, TimeSpan timeout, int? acceptErrorCode, CancellationToken cancellationToken)
    {
        var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        using var request = new HttpRequestMessage(method, new Uri(_endpoint, path + separator + "api-version=" + ApiVersion));
        request.Headers.Host = _hostName;
        request.Headers.TryAddWithoutValidation("Authorization", await _authorization.GetAuthorizationAsync(cancellationToken).ConfigureAwait(false));
        request.Headers.TryAddWithoutValidation("Request-Id", Guid.NewGuid().ToString());
        request.Headers.TryAddWithoutValidation("User-Agent", AzureIoTProvider.UserAgent);
        request.Headers.ExpectContinue = false;
        if (headers is not null)
        {
            foreach (var (name, value) in headers)
                request.Headers.TryAddWithoutValidation(name, value);
        }
        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body.ToJsonString()));
            request.Content.Headers.ContentType = JsonContentType;
        }
        else if (method == HttpMethod.Post || method == HttpMethod.Put || method == HttpMethod.Patch)
        {
            request.Content = new ByteArrayContent([]);
        }

        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(timeout);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, attempt.Token).ConfigureAwait(false);
            HttpRetryPipeline.RecordResponseStatus(response.StatusCode);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IoTException(IoTErrorKind.Unknown, $"IoT Hub did not answer {method} {PathOnly(path)} within {timeout.TotalSeconds:0} s.", IotHubErrors.Provider, "RequestTimeout", isTransient: true, innerException: ex);
        }
        catch (HttpRequestException ex)
        {
            throw new IoTException(IoTErrorKind.Unknown, $"IoT Hub request {method} {PathOnly(path)} failed: {ex.Message}", IotHubErrors.Provider, "ConnectionFailed", isTransient: true, innerException: ex);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var names = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var header in response.Headers.Concat(response.Content.Headers))
                names[header.Key.ToLowerInvariant()] = string.Join(",", header.Value);
            if (response.IsSuccessStatusCode || status == acceptErrorCode)
            {
                JsonNode? json = null;
                if (!string.IsNullOrWhiteSpace(text))
                {
                    try { json = JsonNode.Parse(text); }
                    catch (JsonException ex) { throw new IoTException(IoTErrorKind.Unknown, $"IoT Hub sent a body that is not JSON for {method} {PathOnly(path)}.", IotHubErrors.Provider, "InvalidResponse", innerException: ex); }
                }
                return new IotHubResponse(status, json, names);
            }
            var error = IotHubErrors.Parse(status, text, names.GetValueOrDefault("iothub-errorcode"), names.GetValueOrDefault("x-ms-request-id"));
            throw IotHubErrors.ToException(error, deviceId, IotHubErrors.RetryAfter(response.Headers.RetryAfter, _time.GetUtcNow()));
        }
    }

    private static string PathOnly(string path) => path.Split('?')[0];

    /// <summary>Quotes an ETag for If-Match as the official SDKs do; <see langword="null"/> becomes <c>"*"</c>.</summary>
    public static string IfMatch(string? etag) =>
        etag is null or "*" ? "\"*\"" : etag.StartsWith('"') ? etag : "\"" + etag + "\"";

    /// <summary>Percent-encodes one path segment (a device or job id) with <c>encodeURIComponent</c>, as azure-iothub does.</summary>
    public static string Segment(string value) => UriComponent.Encode(value);

    private sealed class RetryableFailure(IoTException error) : Exception(error.Message, error)
    {
        public IoTException Error { get; } = error;
    }
}
