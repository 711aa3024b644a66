using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace IoTMastery.Sdk.Tests.Firmware;

/// <summary>
/// A real HTTP server on 127.0.0.1 (free port) serving one firmware image with <c>Range</c> support, that
/// can cut the connection after a given number of body bytes on chosen requests, or stall mid-body.
/// </summary>
internal sealed class LoopbackImageServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    /// <param name="image">The bytes served.</param>
    /// <param name="dropAfter">For request n (0-based) the body bytes to send before aborting the connection; null sends everything.</param>
    /// <param name="stallAfter">When set, every request sends this many body bytes and then waits until the server stops.</param>
    public LoopbackImageServer(byte[] image, Func<int, long?>? dropAfter = null, long? stallAfter = null, HttpStatusCode? status = null)
    {
        Image = image;
        for (var tries = 0; ; tries++)
        {
            var port = FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                _listener.Start();
                Uri = new Uri($"http://127.0.0.1:{port}/fw/image.bin?token=secret-token");
                break;
            }
            catch (HttpListenerException) when (tries < 5)
            {
                // The free port was taken between probing and binding; try another.
            }
        }
        _loop = Task.Run(() => ServeAsync(dropAfter ?? (_ => null), stallAfter, status));
    }

    public byte[] Image { get; }

    public Uri Uri { get; private set; } = null!;

    /// <summary>The Range header of every request, in arrival order ("" when absent).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    private async Task ServeAsync(Func<int, long?> dropAfter, long? stallAfter, HttpStatusCode? status)
    {
        for (var n = 0; !_stop.IsCancellationRequested; n++)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            var request = n;
            _ = Task.Run(() => HandleAsync(context, dropAfter(request), stallAfter, status));
        }
    }

    private async Task HandleAsync(HttpListenerContext context, long? drop, long? stallAfter, HttpStatusCode? status)
    {
        var response = context.Response;
        try
        {
            var range = context.Request.Headers["Range"] ?? "";
            Requests.Enqueue(range);
            if (status is { } fixedStatus)
            {
                response.StatusCode = (int)fixedStatus;
                response.Close();
                return;
            }
            long from = 0;
            if (range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
            {
                from = long.Parse(range["bytes=".Length..^1]);
                response.StatusCode = (int)HttpStatusCode.PartialContent;
                response.AddHeader("Content-Range", $"bytes {from}-{Image.Length - 1}/{Image.Length}");
            }
            var body = Image.AsMemory((int)from);
            response.ContentLength64 = body.Length;
            var send = (int)Math.Min(body.Length, drop ?? stallAfter ?? body.Length);
            await response.OutputStream.WriteAsync(body[..send]);
            await response.OutputStream.FlushAsync();
            if (stallAfter is not null)
            {
                await Task.Delay(Timeout.Infinite, _stop.Token).ContinueWith(_ => { });
                response.Abort();
                return;
            }
            if (drop is not null && send < body.Length)
            {
                // Cuts the TCP connection mid-body, as a flaky network would.
                response.Abort();
                return;
            }
            response.Close();
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
        catch (HttpListenerException)
        {
            // The client went away first; nothing to serve.
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _stop.Cancel();
        // Close alone: the managed HttpListener's Close after Stop registers the endpoint again, re-binding the port,
        // which fails with "Address already in use" when another process has taken it meanwhile (seen under load).
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
