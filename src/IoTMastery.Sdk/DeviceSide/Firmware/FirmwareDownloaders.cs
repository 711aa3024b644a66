using System.Net;
using System.Net.Http.Headers;

namespace IoTMastery.Sdk;

/// <summary>The default downloaders for <c>file://</c>, <c>http://</c> and <c>https://</c> images.</summary>
internal static class FirmwareDownloaders
{
    /// <summary>
    /// A resumable downloader: <c>file://</c> images are reopened and read from the offset;
    /// <c>http(s)://</c> images are fetched with <c>Range: bytes={offset}-</c> (a server that ignores
    /// the range and answers 200 is read from the start and the first bytes skipped). HTTP errors surface
    /// as <see cref="HttpRequestException"/> carrying the status code.
    /// </summary>
    public static FirmwareDownloader CreateResumable(HttpClient? httpClient = null)
    {
        return async (uri, offset, cancellationToken) =>
        {
            ArgumentNullException.ThrowIfNull(uri);
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            if (uri.IsFile)
            {
                var file = new FileStream(uri.LocalPath, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
                file.Seek(Math.Min(offset, file.Length), SeekOrigin.Begin);
                return file;
            }
            if (uri.Scheme is "http" or "https")
            {
                var client = httpClient ?? SharedClient.Value;
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                if (offset > 0)
                    request.Headers.Range = new RangeHeaderValue(offset, null);
                var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                try
                {
                    response.EnsureSuccessStatusCode();
                    var body = new ResponseStream(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), response);
                    if (offset == 0)
                        return body;
                    if (response.StatusCode == HttpStatusCode.PartialContent)
                    {
                        if (response.Content.Headers.ContentRange?.From != offset)
                        {
                            await body.DisposeAsync().ConfigureAwait(false);
                            throw new HttpRequestException($"The server answered a range request for byte {offset} with another range.", null, HttpStatusCode.PartialContent);
                        }
                        return body;
                    }
                    return await SkipAsync(body, offset, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    response.Dispose();
                    throw;
                }
            }
            throw new NotSupportedException($"Firmware URIs must be file, http or https; got scheme '{uri.Scheme}'.");
        };
    }

    // Reads and discards the first bytes; a stream shorter than the offset is simply left at its end.
    private static async Task<Stream> SkipAsync(Stream stream, long offset, CancellationToken cancellationToken)
    {
        if (offset == 0)
            return stream;
        try
        {
            var buffer = new byte[81920];
            var left = offset;
            while (left > 0)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
                if (read == 0) break;
                left -= read;
            }
            return stream;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static readonly Lazy<HttpClient> SharedClient = new(() => new HttpClient());

    // Keeps the response alive (and disposes it) for as long as its body stream is read.
    private sealed class ResponseStream(Stream inner, HttpResponseMessage response) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
