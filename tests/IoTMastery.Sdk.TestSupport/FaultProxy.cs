using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace IoTMastery.Sdk.TestSupport;

/// <summary>What the proxy does with one request.</summary>
public enum HttpFault
{
    /// <summary>Forward and relay the answer unchanged.</summary>
    Pass,
    /// <summary>Answer 429 without Retry-After; nothing is forwarded.</summary>
    Throttle,
    /// <summary>Answer 429 with <c>Retry-After: 1</c>; nothing is forwarded.</summary>
    ThrottleRetryAfter,
    /// <summary>Answer 500; nothing is forwarded.</summary>
    ServerError,
    /// <summary>Answer 503; nothing is forwarded.</summary>
    Unavailable,
    /// <summary>Forward, then never answer (until the client gives up or the proxy stops).</summary>
    Timeout,
    /// <summary>Forward, then reset the connection (RST) without any response byte.</summary>
    Reset,
    /// <summary>Forward, relay status and headers, then close after half the announced body.</summary>
    Truncated,
    /// <summary>Forward, relay the status with a body that is not JSON.</summary>
    MalformedJson,
}

/// <summary>One request the proxy saw.</summary>
/// <param name="Method">The HTTP method.</param>
/// <param name="PathAndQuery">The request target.</param>
/// <param name="Fault">The fault applied.</param>
/// <param name="Forwarded">Whether the request reached the target.</param>
public sealed record ProxiedRequest(string Method, string PathAndQuery, HttpFault Fault, bool Forwarded);

/// <summary>
/// A loopback HTTP/1.1 reverse proxy that injects scripted faults in front of a real peer (moto, the Pub/Sub
/// emulator, the IoT Hub double). One request per connection (<c>Connection: close</c>), so every fault is per request.
/// Requests matching <see cref="Targets"/> take the next fault from <see cref="Plan"/> (then <see cref="Pass"/>);
/// others pass. Every request is recorded.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly HttpClient _upstream;
    private readonly Uri _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<ProxiedRequest> _seen = new();
    private readonly Task _accept;

    private FaultProxy(Uri target, HttpMessageHandler? upstreamHandler)
    {
        _target = target;
        _upstream = new HttpClient(upstreamHandler ?? new SocketsHttpHandler(), disposeHandler: true) { Timeout = TimeSpan.FromSeconds(30) };
        _listener.Start();
        _accept = AcceptLoopAsync();
    }

    /// <summary>Starts a proxy on a free 127.0.0.1 port forwarding to <paramref name="target"/> (http or https).</summary>
    public static FaultProxy Start(Uri target, HttpMessageHandler? upstreamHandler = null) => new(target, upstreamHandler);

    /// <summary>The proxy's base URL (plain HTTP).</summary>
    public Uri BaseUri => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

    /// <summary>Faults for the next matching requests, in order.</summary>
    public ConcurrentQueue<HttpFault> Plan { get; } = new();

    /// <summary>The fault for matching requests once <see cref="Plan"/> is empty.</summary>
    public HttpFault Default { get; set; } = HttpFault.Pass;

    /// <summary>Which requests the plan applies to (method, path); all by default.</summary>
    public Func<string, string, bool> Targets { get; set; } = (_, _) => true;

    /// <summary>
    /// Rewrites the body of a relayed answer (method, request target, upstream body → body sent to the client), for an
    /// answer the real peer would never give, such as a garbled field inside otherwise valid JSON. Null = relay unchanged.
    /// </summary>
    public Func<string, string, byte[], byte[]>? RewriteResponse { get; set; }

    /// <summary>Every request seen, in arrival order.</summary>
    public IReadOnlyList<ProxiedRequest> Seen => _seen.ToList();

    /// <summary>The requests matching <see cref="Targets"/>.</summary>
    public IReadOnlyList<ProxiedRequest> Matching => _seen.Where(r => Targets(r.Method, r.PathAndQuery)).ToList();

    /// <summary>Forgets the plan and the record.</summary>
    public void Reset()
    {
        Plan.Clear();
        _seen.Clear();
        Default = HttpFault.Pass;
        Targets = (_, _) => true;
        RewriteResponse = null;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception) { return; }
            _ = Task.Run(() => HandleAsync(socket));
        }
    }

    private async Task HandleAsync(Socket socket)
    {
        using var _ = socket;
        try
        {
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var (method, target, headers, body) = await ReadRequestAsync(stream).ConfigureAwait(false);
            if (method is null) return;
            var fault = HttpFault.Pass;
            if (Targets(method, target)) fault = Plan.TryDequeue(out var next) ? next : Default;
            var forwards = fault is HttpFault.Pass or HttpFault.Timeout or HttpFault.Reset or HttpFault.Truncated or HttpFault.MalformedJson;
            _seen.Enqueue(new ProxiedRequest(method, target, fault, forwards));
            switch (fault)
            {
                case HttpFault.Throttle: await WriteAsync(stream, 429, "Too Many Requests", [], ErrorBody(429, "RESOURCE_EXHAUSTED", "ThrottlingException")).ConfigureAwait(false); return;
                case HttpFault.ThrottleRetryAfter: await WriteAsync(stream, 429, "Too Many Requests", [("Retry-After", "1")], ErrorBody(429, "RESOURCE_EXHAUSTED", "ThrottlingException")).ConfigureAwait(false); return;
                case HttpFault.ServerError: await WriteAsync(stream, 500, "Internal Server Error", [], ErrorBody(500, "INTERNAL", "InternalFailureException")).ConfigureAwait(false); return;
                case HttpFault.Unavailable: await WriteAsync(stream, 503, "Service Unavailable", [], ErrorBody(503, "UNAVAILABLE", "ServiceUnavailableException")).ConfigureAwait(false); return;
            }
            using var response = await ForwardAsync(method, target, headers, body).ConfigureAwait(false);
            var responseBody = await response.Content.ReadAsByteArrayAsync(_stop.Token).ConfigureAwait(false);
            if (RewriteResponse is { } rewrite) responseBody = rewrite(method, target, responseBody);
            var responseHeaders = response.Headers.Concat(response.Content.Headers)
                .Where(h => !IsHopHeader(h.Key))
                .Select(h => (h.Key, string.Join(",", h.Value))).ToList();
            switch (fault)
            {
                case HttpFault.Timeout:
                    // Hold the connection open without answering until the client closes it or the proxy stops.
                    try { await stream.ReadAsync(new byte[1], _stop.Token).ConfigureAwait(false); } catch (Exception) { }
                    return;
                case HttpFault.Reset:
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Close();
                    return;
                case HttpFault.Truncated:
                    var full = responseBody.Length < 2 ? Encoding.UTF8.GetBytes("{\"padding\":\"0123456789\"}") : responseBody;
                    await WriteHeadAsync(stream, (int)response.StatusCode, response.ReasonPhrase ?? "OK", responseHeaders, full.Length).ConfigureAwait(false);
                    await stream.WriteAsync(full.AsMemory(0, full.Length / 2)).ConfigureAwait(false);
                    await stream.FlushAsync().ConfigureAwait(false);
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Close();
                    return;
                case HttpFault.MalformedJson:
                    responseHeaders.RemoveAll(h => h.Item1.Equals("Content-Type", StringComparison.OrdinalIgnoreCase));
                    responseHeaders.Add(("Content-Type", "application/json"));
                    await WriteAsync(stream, (int)response.StatusCode, response.ReasonPhrase ?? "OK", responseHeaders, Encoding.UTF8.GetBytes("{\"name\": \"x\", <html>not json")).ConfigureAwait(false);
                    return;
                default:
                    await WriteAsync(stream, (int)response.StatusCode, response.ReasonPhrase ?? "OK", responseHeaders, responseBody).ConfigureAwait(false);
                    return;
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested) { }
        catch (IOException) { }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    private async Task<HttpResponseMessage> ForwardAsync(string method, string target, List<(string Name, string Value)> headers, byte[] body)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(_target, target.TrimStart('/')));
        if (body.Length > 0 || method is "POST" or "PUT" or "PATCH") request.Content = new ByteArrayContent(body);
        foreach (var (name, value) in headers)
        {
            if (IsHopHeader(name) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) continue;
            // Host stays the client's: SigV4 signs it and the IoT Hub double routes on it.
            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase)) { request.Headers.Host = value; continue; }
            if (!request.Headers.TryAddWithoutValidation(name, value)) request.Content?.Headers.TryAddWithoutValidation(name, value);
        }
        return await _upstream.SendAsync(request, HttpCompletionOption.ResponseContentRead, _stop.Token).ConfigureAwait(false);
    }

    private static bool IsHopHeader(string name) =>
        name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase);

    private static byte[] ErrorBody(int code, string status, string awsType) => Encoding.UTF8.GetBytes(
        $"{{\"error\":{{\"code\":{code},\"message\":\"injected fault\",\"status\":\"{status}\"}},\"__type\":\"{awsType}\",\"message\":\"injected fault\",\"Message\":\"injected fault\"}}");

    private static async Task<(string? Method, string Target, List<(string, string)> Headers, byte[] Body)> ReadRequestAsync(Stream stream)
    {
        var buffer = new List<byte>();
        var one = new byte[1];
        // Byte-at-a-time is fine for test traffic and never over-reads the body.
        while (buffer.Count < 4 || !(buffer[^4] == '\r' && buffer[^3] == '\n' && buffer[^2] == '\r' && buffer[^1] == '\n'))
        {
            if (await stream.ReadAsync(one).ConfigureAwait(false) == 0) return (null, "", [], []);
            buffer.Add(one[0]);
            if (buffer.Count > 64 * 1024) throw new IOException("Request head too large.");
        }
        var lines = Encoding.ASCII.GetString(buffer.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var parts = lines[0].Split(' ');
        var headers = lines.Skip(1).Select(l => { var i = l.IndexOf(':'); return (l[..i].Trim(), l[(i + 1)..].Trim()); }).ToList();
        var length = headers.Where(h => h.Item1.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => int.Parse(h.Item2, System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        if (headers.Any(h => h.Item1.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))) throw new IOException("Chunked requests are not supported by the fault proxy.");
        var body = new byte[length];
        await stream.ReadExactlyAsync(body).ConfigureAwait(false);
        return (parts[0], parts[1], headers, body);
    }

    private static async Task WriteAsync(Stream stream, int status, string reason, IEnumerable<(string, string)> headers, byte[] body)
    {
        await WriteHeadAsync(stream, status, reason, headers, body.Length).ConfigureAwait(false);
        await stream.WriteAsync(body).ConfigureAwait(false);
        await stream.FlushAsync().ConfigureAwait(false);
    }

    private static async Task WriteHeadAsync(Stream stream, int status, string reason, IEnumerable<(string Name, string Value)> headers, int length)
    {
        var head = new StringBuilder().Append("HTTP/1.1 ").Append(status).Append(' ').Append(reason).Append("\r\n");
        foreach (var (name, value) in headers) head.Append(name).Append(": ").Append(value).Append("\r\n");
        head.Append("Content-Length: ").Append(length).Append("\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString())).ConfigureAwait(false);
    }

    /// <summary>Stops listening and releases held connections.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try { await _accept.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); } catch (Exception) { }
        _upstream.Dispose();
        _stop.Dispose();
    }
}
