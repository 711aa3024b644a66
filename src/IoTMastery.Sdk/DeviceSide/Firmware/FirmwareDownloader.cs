namespace IoTMastery.Sdk;

/// <summary>Opens a readable stream over a firmware image; the agent disposes it.</summary>
/// <param name="uri">The image location from the desired state.</param>
/// <param name="cancellationToken">Cancels the download.</param>
public delegate ValueTask<Stream> FirmwareDownloader(Uri uri, CancellationToken cancellationToken);

/// <summary>The default downloaders for <c>file://</c>, <c>http://</c> and <c>https://</c> images.</summary>
public static class FirmwareDownloaders
{
    /// <summary>
    /// A downloader that reads <c>file://</c> URIs from disk and fetches <c>http(s)://</c> URIs with
    /// <paramref name="httpClient"/> (a shared default client when <see langword="null"/>).
    /// </summary>
    public static FirmwareDownloader Create(HttpClient? httpClient = null)
    {
        return async (uri, cancellationToken) =>
        {
            ArgumentNullException.ThrowIfNull(uri);
            if (uri.IsFile)
                return new FileStream(uri.LocalPath, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
            if (uri.Scheme is "http" or "https")
            {
                var client = httpClient ?? SharedClient.Value;
                var response = await client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                try
                {
                    response.EnsureSuccessStatusCode();
                    return new ResponseStream(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), response);
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
