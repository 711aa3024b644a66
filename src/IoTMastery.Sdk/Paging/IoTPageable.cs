using System.Runtime.CompilerServices;

namespace IoTMastery.Sdk;

/// <summary>
/// A listing that may take several calls to the provider: enumerate it with <c>await foreach</c> for every item, or call
/// <see cref="AsPages"/> to work a page at a time and to resume later from a page's <see cref="IoTPage{T}.ContinuationToken"/>.
/// Devices, presence, firmware releases and rollouts are all listed in this one shape, modelled on Azure.Core's
/// <c>AsyncPageable&lt;T&gt;</c>. Nothing is fetched until enumeration starts, and every enumeration starts afresh.
/// </summary>
/// <typeparam name="T">The listed item.</typeparam>
/// <remarks>
/// Derive from it to fake a listing in a test, or use <see cref="FromPages(IEnumerable{IoTPage{T}})"/>.
/// </remarks>
public abstract class IoTPageable<T> : IAsyncEnumerable<T>
{
    /// <summary>For mocking: a listing cancelled only by the token passed to the enumeration.</summary>
    protected IoTPageable() : this(CancellationToken.None)
    {
    }

    /// <summary>A listing that stops when <paramref name="cancellationToken"/> (the one given to the list call) is cancelled.</summary>
    protected IoTPageable(CancellationToken cancellationToken) => CancellationToken = cancellationToken;

    /// <summary>The token given to the list call; it cancels every enumeration of this listing.</summary>
    public virtual CancellationToken CancellationToken { get; }

    /// <summary>
    /// The listing a page at a time, from the start or from where an earlier page (of the same listing, on the same
    /// provider, possibly in another process) left off. Each page is one call to the provider.
    /// </summary>
    /// <param name="continuationToken">
    /// A page's <see cref="IoTPage{T}.ContinuationToken"/>, to resume after that page; <see langword="null"/> to start at the first page.
    /// </param>
    /// <param name="pageSizeHint">
    /// Items per page, 1 to 1000, instead of the listing's own page size. A hint: providers that filter after the service pages
    /// may return shorter pages, and none returns longer ones.
    /// </param>
    /// <returns>The pages; the last one has no continuation token.</returns>
    /// <exception cref="ArgumentException">
    /// The token was not issued by this kind of listing with the same filters on this provider; thrown by this call, before any
    /// request.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pageSizeHint"/> is outside 1-1000.</exception>
    public abstract IAsyncEnumerable<IoTPage<T>> AsPages(string? continuationToken = null, int? pageSizeHint = null);

    /// <summary>Every item, fetching pages as the enumeration reaches them.</summary>
    /// <param name="cancellationToken">Stops the enumeration, together with <see cref="CancellationToken"/>.</param>
    public virtual async IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        await foreach (var page in AsPages().WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            foreach (var item in page.Items)
                yield return item;
        }
    }

    /// <summary>A listing made of fixed pages, for tests and fakes; the continuation tokens are the pages' own.</summary>
    /// <param name="pages">The pages, in order. Enumerated once per enumeration of the listing.</param>
    /// <exception cref="ArgumentNullException"><paramref name="pages"/> is null.</exception>
    public static IoTPageable<T> FromPages(IEnumerable<IoTPage<T>> pages)
    {
        ArgumentNullException.ThrowIfNull(pages);
        return new FixedPageable(pages);
    }

    private sealed class FixedPageable(IEnumerable<IoTPage<T>> pages) : IoTPageable<T>
    {
        public override IAsyncEnumerable<IoTPage<T>> AsPages(string? continuationToken = null, int? pageSizeHint = null) => ReadAsync(continuationToken);

        // A fake resumes after the page whose token it is given, as a provider would.
        private async IAsyncEnumerable<IoTPage<T>> ReadAsync(string? continuationToken, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var started = continuationToken is null;
            foreach (var page in pages)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (started)
                    yield return page;
                else if (page.ContinuationToken == continuationToken)
                    started = true;
            }
            await Task.CompletedTask.ConfigureAwait(false);
        }
    }
}

/// <summary>One page of a listing: its items and where the next page starts.</summary>
/// <typeparam name="T">The listed item.</typeparam>
/// <param name="Items">The items on this page; may be empty on a page that is not the last (filters applied after the service paged).</param>
/// <param name="ContinuationToken">
/// Pass to <see cref="IoTPageable{T}.AsPages"/> to resume after this page, in this or a later process; <see langword="null"/>
/// on the last page. Opaque, and valid only for the same kind of listing, with the same filters, on the same provider.
/// </param>
public sealed record IoTPage<T>(IReadOnlyList<T> Items, string? ContinuationToken);
