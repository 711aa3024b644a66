using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace IoTMastery.Sdk.CloudDoubles.CloudIot;

/// <summary>One request as the server saw it.</summary>
public sealed record CapturedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string Path => PathAndQuery.Split('?')[0];

    public string Query => PathAndQuery.Contains('?') ? PathAndQuery[(PathAndQuery.IndexOf('?') + 1)..] : "";
}

/// <summary>A reply the handler chooses.</summary>
public sealed record CannedResponse(int Status, string Body = "{}", IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>
/// A plain HTTP/1.1 server on a free 127.0.0.1 port (System.Net.HttpListener) that records every request
/// and answers through a handler. Used as a capture server for the official Node clients and as the host
/// of the Cloud IoT registry double.
/// </summary>
public sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<CapturedRequest, CannedResponse> _handler;
    private readonly Task _loop;

    public LoopbackHttpServer(Func<CapturedRequest, CannedResponse> handler)
    {
        _handler = handler;
        for (var attempt = 0; ; attempt++)
        {
            Port = FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // The port was taken between probing and binding; pick another.
            }
        }
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public Uri BaseUrl => new($"http://127.0.0.1:{Port}/");

    public ConcurrentQueue<CapturedRequest> Requests { get; } = new();

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => Handle(context));
        }
    }

    private void Handle(HttpListenerContext context)
    {
        try
        {
            string body;
            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
                body = reader.ReadToEnd();
            var headers = context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!.ToLowerInvariant(), k => context.Request.Headers[k]!);
            var request = new CapturedRequest(context.Request.HttpMethod, context.Request.RawUrl ?? "/", headers, body);
            Requests.Enqueue(request);
            CannedResponse response;
            try
            {
                response = _handler(request);
            }
            catch (Exception ex)
            {
                response = new CannedResponse(500, $"{{\"error\":{{\"code\":500,\"message\":{System.Text.Json.JsonSerializer.Serialize(ex.Message)},\"status\":\"INTERNAL\"}}}}");
            }
            var bytes = Encoding.UTF8.GetBytes(response.Body);
            context.Response.StatusCode = response.Status;
            context.Response.ContentType = "application/json; charset=utf-8";
            foreach (var (k, v) in response.Headers ?? new Dictionary<string, string>()) context.Response.Headers[k] = v;
            context.Response.ContentLength64 = bytes.Length;
            context.Response.OutputStream.Write(bytes);
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or IOException)
        {
            // The client went away.
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Close alone: the managed HttpListener's Close after Stop registers the endpoint again, re-binding the port,
        // which fails with "Address already in use" when another process has taken it meanwhile (seen under load).
        _listener.Close();
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
