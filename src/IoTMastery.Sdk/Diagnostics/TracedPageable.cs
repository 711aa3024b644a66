using System.Runtime.CompilerServices;

namespace IoTMastery.Sdk.Diagnostics;

/// <summary>
/// A listing seen through the tracing decorators: one span per page fetched, named for the listing. Token and page-size
/// checks stay the inner listing's, so they still fail at <see cref="AsPages"/> and outside any span.
/// </summary>
internal sealed class TracedPageable<T>(IoTPageable<T> inner, string operation, string provider) : IoTPageable<T>(inner.CancellationToken)
{
    public override IAsyncEnumerable<IoTPage<T>> AsPages(string? continuationToken = null, int? pageSizeHint = null) =>
        ReadAsync(inner.AsPages(continuationToken, pageSizeHint));

    private async IAsyncEnumerable<IoTPage<T>> ReadAsync(IAsyncEnumerable<IoTPage<T>> pages, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var enumerator = pages.GetAsyncEnumerator(cancellationToken);
        await using (enumerator.ConfigureAwait(false))
        {
            while (SdkActivitySource.Source.HasListeners()
                ? await TracedMoveAsync(enumerator).ConfigureAwait(false)
                : await enumerator.MoveNextAsync().ConfigureAwait(false))
                yield return enumerator.Current;
        }
    }

    // Its own async method, so the span is Activity.Current only while the page is fetched, never in the caller's loop.
    private async Task<bool> TracedMoveAsync(IAsyncEnumerator<IoTPage<T>> enumerator)
    {
        using var activity = SdkActivitySource.StartOperation(operation, provider);
        try
        {
            return await enumerator.MoveNextAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            SdkActivitySource.RecordFailure(activity, ex);
            throw;
        }
    }
}

/// <summary>Builds <see cref="TracedPageable{T}"/> with the item type inferred.</summary>
internal static class TracedPageable
{
    public static IoTPageable<T> Wrap<T>(IoTPageable<T> inner, string operation, string provider) => new TracedPageable<T>(inner, operation, provider);
}
