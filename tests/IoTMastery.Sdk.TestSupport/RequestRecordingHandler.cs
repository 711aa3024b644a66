using System.Collections.Concurrent;

namespace IoTMastery.Sdk.TestSupport;

/// <summary>
/// A pass-through <see cref="DelegatingHandler"/> a test hands to a provider as <c>Transport.HttpHandler</c>: it records
/// the method and address of every request on its way to the real peer, so a test can show which calls took that route.
/// Thread-safe; it also records whether the provider disposed it.
/// </summary>
public sealed class RequestRecordingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private readonly ConcurrentQueue<(HttpMethod Method, Uri Uri)> _requests = new();

    /// <summary>The requests seen so far, oldest first.</summary>
    public IReadOnlyList<(HttpMethod Method, Uri Uri)> Requests => [.. _requests];

    /// <summary>Whether the handler was disposed (the provider owns it and disposes it with itself).</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Whether a request with <paramref name="method"/> reached <paramref name="authority"/> at a path starting with <paramref name="pathPrefix"/>.</summary>
    public bool Saw(HttpMethod method, string authority, string pathPrefix) =>
        _requests.Any(r => r.Method == method && r.Uri.Authority == authority && r.Uri.AbsolutePath.StartsWith(pathPrefix, StringComparison.Ordinal));

    /// <summary>
    /// The expected calls (method and path prefix at <paramref name="authority"/>) no request matched, as "METHOD path":
    /// empty when every one went through this handler.
    /// </summary>
    public IReadOnlyList<string> Unseen(string authority, params (HttpMethod Method, string PathPrefix)[] expected) =>
        [.. expected.Where(e => !Saw(e.Method, authority, e.PathPrefix)).Select(e => $"{e.Method} {e.PathPrefix}")];

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _requests.Enqueue((request.Method, request.RequestUri!));
        return base.SendAsync(request, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        IsDisposed = true;
        base.Dispose(disposing);
    }
}
