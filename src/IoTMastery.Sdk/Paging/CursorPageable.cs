using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace IoTMastery.Sdk;

/// <summary>
/// The one <see cref="IoTPageable{T}"/> behind every provider's listings. A provider supplies a page reader that takes its
/// native cursor (the Local last id, AWS <c>nextToken</c>, the Azure continuation header, GCP <c>nextPageToken</c>, a
/// firmware store key); this class wraps that cursor in a token that names the listing, so a token from another listing,
/// another filter, another provider or no listing at all is refused by <see cref="AsPages"/> before any request.
/// </summary>
/// <param name="scope">What a token must have been issued for; see <see cref="PageScope"/>.</param>
/// <param name="defaultPageSize">The page size when the caller gives no hint.</param>
/// <param name="readPage">Reads one page after a native cursor (<see langword="null"/> for the first page) and returns the next cursor.</param>
/// <param name="cursorIsValid">Further checks of a decoded cursor, when the provider can make them (e.g. the Local id rules).</param>
/// <param name="cancellationToken">The list call's token.</param>
internal sealed class CursorPageable<T>(
    PageScope scope,
    int defaultPageSize,
    Func<string?, int, CancellationToken, Task<(IReadOnlyList<T> Items, string? NextCursor)>> readPage,
    Func<string, bool>? cursorIsValid,
    CancellationToken cancellationToken) : IoTPageable<T>(cancellationToken)
{
    public override IAsyncEnumerable<IoTPage<T>> AsPages(string? continuationToken = null, int? pageSizeHint = null)
    {
        // Checked here, when AsPages is called, not at the first MoveNextAsync: bad input fails where it was passed.
        var pageSize = pageSizeHint ?? defaultPageSize;
        if (pageSize is < 1 or > PageScope.MaxPageSize)
            throw new ArgumentOutOfRangeException(nameof(pageSizeHint), pageSize, $"The page size must be between 1 and {PageScope.MaxPageSize}.");
        var cursor = continuationToken is null ? null : scope.Decode(continuationToken);
        if (cursor is not null && cursorIsValid is not null && !cursorIsValid(cursor))
            throw PageScope.ForeignToken();
        return ReadAsync(cursor, pageSize);
    }

    private async IAsyncEnumerable<IoTPage<T>> ReadAsync(string? cursor, int pageSize, [EnumeratorCancellation] CancellationToken enumerationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(CancellationToken, enumerationToken);
        do
        {
            var (items, next) = await readPage(cursor, pageSize, linked.Token).ConfigureAwait(false);
            cursor = next;
            yield return new IoTPage<T>(items, next is null ? null : scope.Encode(next));
        }
        while (cursor is not null);
    }
}

/// <summary>
/// Names a listing for its continuation tokens: the kind of item, the provider and a digest of the filters. A token is
/// <c>iotm1.</c> followed by base64url of the scope digest and the native cursor; it is not secret (the cursor is whatever
/// the provider would hand out anyway), only checked, so it cannot be replayed against a listing it does not belong to.
/// </summary>
internal sealed class PageScope
{
    /// <summary>The largest page any listing asks for.</summary>
    public const int MaxPageSize = 1000;

    // Azure continuation tokens are a few hundred characters, AWS and GCP ones shorter; this is far above all of them.
    private const int MaxTokenLength = 8192;
    private const string Prefix = "iotm1.";
    private const int DigestLength = 12;
    private readonly byte[] _digest;

    private PageScope(byte[] digest) => _digest = digest;

    /// <summary>The scope of a listing of <paramref name="kind"/> on <paramref name="provider"/> with these filter values.</summary>
    public static PageScope Of(string kind, string provider, params ReadOnlySpan<string?> filters)
    {
        var text = new StringBuilder(kind).Append('\n').Append(provider);
        // Length-prefixed, so ("a", "bc") and ("ab", "c") differ, and null differs from "".
        foreach (var filter in filters)
            text.Append('\n').Append(filter is null ? "-" : filter.Length + ":" + filter);
        return new PageScope(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))[..DigestLength]);
    }

    /// <summary>The scope of a device or presence listing with <paramref name="query"/>'s filters (its page size may change between pages).</summary>
    // The enabled filter is spelled as the former DeviceStatus enum printed it, so tokens issued before the change still match.
    public static PageScope Of(string kind, string provider, DeviceQuery query) =>
        Of(kind, provider, query.Enabled switch { true => "Enabled", false => "Disabled", null => null }, query.AttributeName, query.AttributeValue);

    /// <summary>A token for resuming after <paramref name="cursor"/>.</summary>
    public string Encode(string cursor)
    {
        var cursorBytes = Encoding.UTF8.GetBytes(cursor);
        var payload = new byte[DigestLength + cursorBytes.Length];
        _digest.CopyTo(payload, 0);
        cursorBytes.CopyTo(payload, DigestLength);
        return Prefix + Base64Url.EncodeToString(payload);
    }

    /// <summary>The cursor in a token this scope issued.</summary>
    /// <exception cref="ArgumentException">Any other token.</exception>
    public string Decode(string token)
    {
        if (token.Length is 0 or > MaxTokenLength || !token.StartsWith(Prefix, StringComparison.Ordinal))
            throw ForeignToken();
        byte[] payload;
        try
        {
            payload = Base64Url.DecodeFromChars(token.AsSpan(Prefix.Length));
        }
        catch (FormatException ex)
        {
            throw ForeignToken(ex);
        }
        if (payload.Length <= DigestLength || !payload.AsSpan(0, DigestLength).SequenceEqual(_digest))
            throw ForeignToken();
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(payload, DigestLength, payload.Length - DigestLength);
        }
        catch (ArgumentException ex)
        {
            throw ForeignToken(ex);
        }
    }

    /// <summary>The error for a token that does not belong to the listing; it never repeats the token.</summary>
    public static ArgumentException ForeignToken(Exception? inner = null) =>
        new("The continuation token was not issued by this listing (the same kind of items, filters and provider); " +
            "pass a ContinuationToken from a page of this listing, or null to start from the first page.", "continuationToken", inner);
}

/// <summary>Another listing's pages with each item mapped; tokens and checks are the inner listing's.</summary>
internal sealed class MappedPageable<TSource, T>(IoTPageable<TSource> inner, Func<TSource, T> map) : IoTPageable<T>(inner.CancellationToken)
{
    public override IAsyncEnumerable<IoTPage<T>> AsPages(string? continuationToken = null, int? pageSizeHint = null) =>
        ReadAsync(inner.AsPages(continuationToken, pageSizeHint));

    private async IAsyncEnumerable<IoTPage<T>> ReadAsync(IAsyncEnumerable<IoTPage<TSource>> pages, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var page in pages.WithCancellation(cancellationToken).ConfigureAwait(false))
            yield return new IoTPage<T>(page.Items.Select(map).ToList(), page.ContinuationToken);
    }
}
