using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;


namespace IoTMastery.Sdk.Aws.Http;

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

    /// <summary>Whether replaying the request after a lost response is harmless; only these are retried.</summary>
    public bool Idempotent { get; init; }

    /// <summary>When set, a 404 becomes <see cref="DeviceNotFoundException"/> for this device.</summary>
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
internal sealed class AwsHttpClient
{
    private readonly HttpClient _http;
    private readonly Uri _baseUri;
    private readonly string _region;
    private readonly string _service;
    private readonly AwsCredentialSource _credentials;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline<AwsResponse> _retry;
    private readonly bool _retries;
    private TimeSpan _clockOffset;

    public AwsHttpClient(HttpClient http, Uri baseUri, string region, string service, AwsCredentialSource credentials,
        AwsRetryOptions retry, TimeProvider time, ILogger logger)
    {
        _http = http;
        _baseUri = baseUri;
        _region = region;
        _service = service;
        _credentials = credentials;
        _time = time;
        _logger = logger;
        _retries = retry.MaxRetries > 0;
        _retry = new ResiliencePipelineBuilder<AwsResponse> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<AwsResponse>
            {
                MaxRetryAttempts = Math.Max(1, retry.MaxRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = retry.BaseDelay,
                MaxDelay = retry.MaxDelay,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is RetryableAwsFailure),
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Exception is RetryableAwsFailure { Error.RetryAfter: { } after } ? (TimeSpan?)after : null),
                OnRetry = args =>
                {
                    _logger.LogDebug("Retrying an AWS call after {Delay}: attempt {Attempt}.", args.RetryDelay, args.AttemptNumber + 1);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    /// <summary>The service name in the credential scope (iot, iotdata, iot-jobs-data).</summary>
    public string Service => _service;

    /// <summary>Sends the request; retries only when <see cref="AwsRequest.Idempotent"/>.</summary>
    public async Task<AwsResponse> SendAsync(AwsRequest request, CancellationToken cancellationToken)
    {
        try
        {
            if (!request.Idempotent || !_retries) return await SendOnceAsync(request, cancellationToken).ConfigureAwait(false);
            return await _retry.ExecuteAsync(static (state, ct) => new ValueTask<AwsResponse>(state.self.SendOnceAsync(state.request, ct)),
                (self: this, request), cancellationToken).ConfigureAwait(false);
        }
        catch (RetryableAwsFailure failure)
        {
            throw failure.Final;
        }
    }

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
            }
            catch (HttpRequestException ex)
            {
                // Nothing reached the service, or the answer was lost: only an idempotent call may be sent again.
                var io = new IoTException($"AWS IoT {request.Operation}: the request to {_baseUri.Host} failed: {ex.Message}", AwsIoTProvider.ProviderName, "ConnectionFailed", true, null, ex);
                if (request.Idempotent) throw new RetryableAwsFailure(io, null);
                throw io;
            }
            catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                var io = new IoTException($"AWS IoT {request.Operation}: the request to {_baseUri.Host} timed out.", AwsIoTProvider.ProviderName, "RequestTimeout", true, null, ex);
                if (request.Idempotent) throw new RetryableAwsFailure(io, null);
                throw io;
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
                        _logger.LogWarning("AWS rejected a request for clock skew; signing with a {Offset} offset from now on.", offset);
                        continue;
                    }
                }
                var exception = error.ToException(request.Operation, request.DeviceId);
                if (request.Idempotent && (error.IsThrottle || error.IsTransient)) throw new RetryableAwsFailure(exception, error);
                throw exception;
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

    /// <summary>Carries a retryable failure through Polly; the mapped exception is thrown when retries run out.</summary>
    private sealed class RetryableAwsFailure(IoTException final, AwsError? error) : Exception(final.Message, final)
    {
        public IoTException Final { get; } = final;

        public AwsError? Error { get; } = error;
    }
}
