using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Amazon.Runtime;
using IoTMastery.Sdk.Http;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Aws;

/// <summary>One restJson1 call: path already built from encoded labels, query pairs unencoded.</summary>
internal sealed record AwsRequest(HttpMethod Method, string Path, string Operation)
{
    /// <summary>Query parameters in the order they are written (signing sorts them anyway).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Query { get; init; } = [];

    /// <summary>The body, or null for operations without one.</summary>
    public byte[]? Body { get; init; }

    /// <summary>application/json for JSON members, application/octet-stream for blob payloads.</summary>
    public string? ContentType { get; init; }

    /// <summary>Members bound to headers (x-amzn-principal …).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>
    /// Whether replaying the request after a lost response is harmless (a read, a compare-and-set, or a create under an
    /// id the caller chose, where a replay is a 409 the caller reconciles); only these are retried.
    /// </summary>
    public bool Idempotent { get; init; }

    /// <summary>When set, a 404 becomes <see cref="IoTErrorKind.DeviceNotFound"/> for this device.</summary>
    public string? DeviceId { get; init; }

    /// <summary>The query string as sent: RFC 3986 encoded, in the order given.</summary>
    public string QueryString => Query.Count == 0 ? "" :
        "?" + string.Join("&", Query.Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value)));

    /// <summary>A JSON body request.</summary>
    public static byte[] Json(System.Text.Json.Nodes.JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString(WireJson));

    /// <summary>Escapes only what JSON requires (as JSON.stringify and the AWS SDKs do), so non-ASCII travels as UTF-8.</summary>
    public static readonly System.Text.Json.JsonSerializerOptions WireJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

/// <summary>A successful response.</summary>
internal sealed record AwsResponse(HttpStatusCode Status, byte[] Body);

/// <summary>Where a client gets its AWS credentials for each attempt (refreshing providers refresh here).</summary>
internal delegate ValueTask<ImmutableCredentials> AwsCredentialSource(CancellationToken cancellationToken);

/// <summary>
/// Sends SigV4-signed restJson1 requests to one AWS service endpoint, maps errors to the SDK hierarchy and
/// retries throttling and transient faults for idempotent operations only (bounded, exponential backoff with jitter).
/// </summary>
internal sealed partial class AwsHttpClient
{
    private readonly HttpClient _http;
    private readonly Uri _baseUri;
    private readonly string _region;
    private readonly string _service;
    private readonly AwsCredentialSource _credentials;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpRetryPipeline _retry;
    private TimeSpan _clockOffset;

    public AwsHttpClient(HttpClient http, Uri baseUri, string region, string service, AwsCredentialSource credentials,
        HttpRetryBounds retry, TimeProvider time, ILogger logger)
    {
        _http = http;
        _baseUri = baseUri;
        _region = region;
        _service = service;
        _credentials = credentials;
        _time = time;
        _logger = logger;
        _retry = new HttpRetryPipeline(AwsIoTProvider.ProviderName, retry, time, logger, "IoTMastery.Sdk.Aws." + service);
    }

    /// <summary>The service name in the credential scope (iot, iotdata, iot-jobs-data).</summary>
    public string Service => _service;

    /// <summary>Sends the request; retries only when <see cref="AwsRequest.Idempotent"/>.</summary>
    public async Task<AwsResponse> SendAsync(AwsRequest request, CancellationToken cancellationToken) =>
        await _retry.ExecuteAsync(static (state, ct) => new ValueTask<AwsResponse>(state.self.SendOnceAsync(state.request, ct)),
            (self: this, request), request.Idempotent ? IsRetryable : static _ => false, request.Method, _baseUri, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Throttling, 5xx, transient codes and lost connections or answers; a signature rejected for clock skew is transient
    /// too but is re-signed once inside the attempt instead, since resending it unchanged fails the same way.
    /// </summary>
    private static bool IsRetryable(IoTException error) => error.IsTransient && !AwsError.IsClockSkewCode(error.ErrorCode);

    private async Task<AwsResponse> SendOnceAsync(AwsRequest request, CancellationToken cancellationToken)
    {
        for (var skewRetry = 0; ; skewRetry++)
        {
            var credentials = await _credentials(cancellationToken).ConfigureAwait(false);
            using var message = Build(request);
            SigV4Signer.Sign(message, request.Body ?? [], credentials, _region, _service, (_time.GetUtcNow() + _clockOffset).UtcDateTime);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
                HttpRetryPipeline.RecordResponseStatus(response.StatusCode);
            }
            catch (HttpRequestException ex)
            {
                // Nothing reached the service, or the answer was lost: transient, but only an idempotent call is sent again.
                throw new IoTException(IoTErrorKind.Unknown, $"AWS IoT {request.Operation}: the request to {_baseUri.Host} failed: {ex.Message}", AwsIoTProvider.ProviderName, "ConnectionFailed", true, null, ex);
            }
            catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw new IoTException(IoTErrorKind.Unknown, $"AWS IoT {request.Operation}: the request to {_baseUri.Host} timed out.", AwsIoTProvider.ProviderName, "RequestTimeout", true, null, ex);
            }
            using (response)
            {
                var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return new AwsResponse(response.StatusCode, body);
                var error = AwsError.Parse(response.StatusCode, name => Header(response, name), body);
                // A rejected signature was never executed, so even a non-idempotent call may be re-signed once.
                if (error.IsClockSkew && skewRetry == 0 && response.Headers.Date is { } serverDate)
                {
                    var offset = serverDate - _time.GetUtcNow();
                    if (offset.Duration() > TimeSpan.FromMinutes(4))
                    {
                        _clockOffset = offset;
                        Log.ClockSkew(_logger, offset);
                        continue;
                    }
                }
                throw error.ToException(request.Operation, request.DeviceId);
            }
        }
    }

    private HttpRequestMessage Build(AwsRequest request)
    {
        var message = new HttpRequestMessage(request.Method, new Uri(_baseUri, request.Path + request.QueryString));
        if (request.Body is { } body)
        {
            message.Content = new ByteArrayContent(body);
            message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(request.ContentType ?? "application/json");
        }
        foreach (var (name, value) in request.Headers)
            message.Headers.TryAddWithoutValidation(name, value);
        return message;
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault() : null;
}
