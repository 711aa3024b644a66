using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Http;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// JSON over HTTP for Google-style REST APIs: base URL, authentication, error mapping and per-RPC retry
/// policies (the SDK's shared HTTP retry, bounded by attempts and a deadline). Thread-safe.
/// </summary>
/// <remarks>
/// Which failures an RPC retries is always Google's per-RPC classification (<see cref="GoogleRetryPolicy.RetryableCodes"/>):
/// it says which calls are safe to repeat, so an RPC without retryable codes (creates, patches, binds, publish without a
/// request id) is sent once whatever the caller's bounds. How often and how patiently is Google's schedule, or the user's
/// <see cref="IoTTransportOptions"/>'s retry settings when any is set (as on the AWS and Azure providers: exponential backoff with jitter),
/// always inside the RPC's total deadline.
/// </remarks>
internal sealed class GoogleRestClient
{
    private readonly HttpClient _http;
    private readonly Uri _baseUri;
    private readonly IGcpAuthenticator _auth;
    private readonly TimeProvider _time;
    private readonly HttpRetryBounds? _retry;
    private readonly ConcurrentDictionary<GoogleRetryPolicy, HttpRetryPipeline> _pipelines = new();

    /// <param name="http">The HTTP client; its lifetime is the caller's.</param>
    /// <param name="baseUri">The service root.</param>
    /// <param name="auth">Adds credentials to every attempt.</param>
    /// <param name="time">The clock for backoff and deadlines.</param>
    /// <param name="retry">The user's retry bounds for RPCs that retry at all; <see langword="null"/> keeps Google's schedule.</param>
    public GoogleRestClient(HttpClient http, Uri baseUri, IGcpAuthenticator auth, TimeProvider? time = null, HttpRetryBounds? retry = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(baseUri);
        ArgumentNullException.ThrowIfNull(auth);
        if (!baseUri.IsAbsoluteUri || (baseUri.Scheme != Uri.UriSchemeHttps && baseUri.Scheme != Uri.UriSchemeHttp))
            throw new ArgumentException("The base URL must be an absolute http or https URL.", nameof(baseUri));
        _http = http;
        // A trailing slash makes relative paths append instead of replacing the last segment.
        _baseUri = baseUri.AbsoluteUri.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");
        _auth = auth;
        _time = time ?? TimeProvider.System;
        _retry = retry;
    }

    public Uri BaseUri => _baseUri;

    /// <summary>Sends one call under <paramref name="policy"/> and returns the parsed response (null for an empty body).</summary>
    public async Task<JsonNode?> SendAsync(string operation, HttpMethod method, string pathAndQuery, JsonNode? body, GoogleRetryPolicy policy, CancellationToken cancellationToken)
    {
        var pipeline = _pipelines.GetOrAdd(policy, BuildPipeline);
        string? json = body?.ToJsonString();
        try
        {
            return await pipeline.ExecuteAsync(static (s, ct) => s.self.SendOnceAsync(s.operation, s.method, s.pathAndQuery, s.json, ct),
                (self: this, operation, method, pathAndQuery, json), policy.IsRetryable, method, _baseUri, cancellationToken).ConfigureAwait(false);
        }
        catch (Polly.Timeout.TimeoutRejectedException ex)
        {
            throw DeadlineExceeded(operation, policy, ex);
        }
    }

    /// <summary>Sends a pre-encoded UTF-8 JSON body (large publish requests are not re-parsed).</summary>
    public async Task<JsonNode?> SendRawAsync(string operation, HttpMethod method, string pathAndQuery, ReadOnlyMemory<byte> utf8Json, GoogleRetryPolicy policy, CancellationToken cancellationToken)
    {
        var pipeline = _pipelines.GetOrAdd(policy, BuildPipeline);
        try
        {
            return await pipeline.ExecuteAsync(static (s, ct) => s.self.SendOnceAsync(s.operation, s.method, s.pathAndQuery, (ReadOnlyMemory<byte>?)s.utf8Json, ct),
                (self: this, operation, method, pathAndQuery, utf8Json), policy.IsRetryable, method, _baseUri, cancellationToken).ConfigureAwait(false);
        }
        catch (Polly.Timeout.TimeoutRejectedException ex)
        {
            throw DeadlineExceeded(operation, policy, ex);
        }
    }

    // The RPC's total deadline ran out (Polly's timeout): a typed, transient error like any other DEADLINE_EXCEEDED.
    private static IoTException DeadlineExceeded(string operation, GoogleRetryPolicy policy, Exception inner) =>
        new(IoTErrorKind.Unknown, $"{operation} failed: DEADLINE_EXCEEDED: no answer within the {policy.Timeout.TotalSeconds:0} s deadline.", GoogleApiErrors.Provider, "DEADLINE_EXCEEDED", isTransient: true, innerException: inner);

    private ValueTask<JsonNode?> SendOnceAsync(string operation, HttpMethod method, string pathAndQuery, string? json, CancellationToken cancellationToken) =>
        SendOnceAsync(operation, method, pathAndQuery, json is null ? null : Encoding.UTF8.GetBytes(json), cancellationToken);

    private async ValueTask<JsonNode?> SendOnceAsync(string operation, HttpMethod method, string pathAndQuery, ReadOnlyMemory<byte>? utf8Json, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_baseUri, pathAndQuery));
        if (utf8Json is { } bytes)
        {
            request.Content = new ReadOnlyMemoryContent(bytes);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        }
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        await _auth.AuthenticateAsync(request, cancellationToken).ConfigureAwait(false);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            HttpRetryPipeline.RecordResponseStatus(response.StatusCode);
        }
        catch (HttpRequestException ex)
        {
            throw new IoTException(IoTErrorKind.Unknown, $"{operation} failed: UNAVAILABLE: {ex.Message}", GoogleApiErrors.Provider, "UNAVAILABLE", isTransient: true, innerException: ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IoTException(IoTErrorKind.Unknown, $"{operation} failed: DEADLINE_EXCEEDED: the HTTP client timed out.", GoogleApiErrors.Provider, "DEADLINE_EXCEEDED", isTransient: true, innerException: ex);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var (status, message) = GoogleApiErrors.Parse(response.StatusCode, text);
                TimeSpan? retryAfter = response.Headers.RetryAfter?.Delta;
                throw GoogleApiErrors.ToException(operation, status, message, retryAfter, (int)response.StatusCode);
            }
            if (string.IsNullOrWhiteSpace(text)) return null;
            // Strict, so duplicate keys and lone surrogates fail here as INVALID_RESPONSE rather than later, untyped, in whatever reads the field.
            if (StrictJson.TryParse(System.Text.Encoding.UTF8.GetBytes(text), out var json)) return json;
            // A garbled answer surfaces in the SDK's error hierarchy, never as a raw parser exception.
            throw new IoTException(IoTErrorKind.Unknown, $"{operation} failed: the response is not valid JSON.", GoogleApiErrors.Provider, "INVALID_RESPONSE", isTransient: false);
        }
    }

    // Google's schedule without jitter, as its service configs state it, or the user's bounds with jitter; either way the
    // policy's timeout is the RPC's total deadline, and an RPC with no retryable code gets no retry at all.
    private HttpRetryPipeline BuildPipeline(GoogleRetryPolicy policy) =>
        new(GoogleApiErrors.Provider, Bounds(policy, _retry), _time, name: "IoTMastery.Sdk.Gcp." + policy.Name);

    /// <summary>The retry bounds of <paramref name="policy"/>'s RPC under the user's <paramref name="retry"/> (null: Google's).</summary>
    internal static HttpRetryBounds Bounds(GoogleRetryPolicy policy, HttpRetryBounds? retry)
    {
        if (policy.RetryableCodes.Count == 0)
            return new HttpRetryBounds(0, policy.InitialBackoff, policy.MaxBackoff) { Deadline = policy.Timeout };
        if (retry is not null)
            return retry with { Deadline = policy.Timeout };
        return new HttpRetryBounds(policy.MaxAttempts - 1, policy.InitialBackoff, policy.MaxBackoff) { Backoff = policy.Backoff, Deadline = policy.Timeout };
    }

    /// <summary>Escapes one path or query component.</summary>
    public static string Escape(string value) => Uri.EscapeDataString(value);
}
