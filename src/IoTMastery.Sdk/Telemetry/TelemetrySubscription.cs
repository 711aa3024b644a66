namespace IoTMastery.Sdk;

/// <summary>
/// A live telemetry subscription from <see cref="ITelemetryChannel.SubscribeAsync"/>: it exists on the provider's peer when
/// the subscribe call returns, so a record a device sends after that is read here. Read it with <see cref="ReadAllAsync"/>
/// (one reader at a time); dispose it to unsubscribe.
/// </summary>
public sealed class TelemetrySubscription : IAsyncDisposable
{
    private readonly IAsyncEnumerator<TelemetryRecord> _records;
    private readonly CancellationTokenSource _stop;
    private Task<bool>? _pending;
    private int _reading;
    private int _disposed;

    private TelemetrySubscription(IAsyncEnumerator<TelemetryRecord> records, CancellationTokenSource stop, Task<bool> first)
    {
        _records = records;
        _stop = stop;
        _pending = first;
    }

    /// <summary>
    /// Opens <paramref name="open"/>'s stream and starts its first read, which attaches the reader; returns once
    /// <paramref name="live"/> completes (the stream says it is positioned) or, without one, once the first read has started.
    /// A stream that fails while attaching (a provider that cannot consume, say) fails this call.
    /// </summary>
    internal static async Task<TelemetrySubscription> StartAsync(Func<CancellationToken, IAsyncEnumerable<TelemetryRecord>> open, Task? live, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // The stream lives as long as the subscription, not as long as this call: its own token, cancelled on dispose.
        var stop = new CancellationTokenSource();
        IAsyncEnumerator<TelemetryRecord>? records = null;
        try
        {
            records = open(stop.Token).GetAsyncEnumerator(stop.Token);
            var first = records.MoveNextAsync().AsTask();
            if (live is not null)
            {
                // Whichever comes first: positioned, or the stream already ended or failed (rethrown below).
                await Task.WhenAny(live, first).WaitAsync(cancellationToken).ConfigureAwait(false);
                if (!first.IsCompleted) await live.ConfigureAwait(false);
            }
            if (first.IsFaulted || first.IsCanceled) await first.ConfigureAwait(false);
            return new TelemetrySubscription(records, stop, first);
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            if (records is not null) await DisposeQuietlyAsync(records, null).ConfigureAwait(false);
            stop.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Streams the subscription's records as they arrive. Cancelling <paramref name="cancellationToken"/> stops this read
    /// only; the subscription stays live and a later call continues where this one stopped.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another read of this subscription is in progress.</exception>
    public async IAsyncEnumerable<TelemetryRecord> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _reading, 1) != 0)
            throw new InvalidOperationException("A telemetry subscription has one reader at a time; subscribe again for another reader.");
        try
        {
            while (true)
            {
                // A read abandoned by cancellation is still pending: the next read takes its result, so nothing is lost.
                _pending ??= _records.MoveNextAsync().AsTask();
                var more = await _pending.WaitAsync(cancellationToken).ConfigureAwait(false);
                _pending = null;
                if (!more) yield break;
                yield return _records.Current;
            }
        }
        finally
        {
            Volatile.Write(ref _reading, 0);
        }
    }

    /// <summary>Unsubscribes: the peer-side reader is detached and records sent later are not read here.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await DisposeQuietlyAsync(_records, _pending).ConfigureAwait(false);
        _stop.Dispose();
    }

    // An async iterator cannot be disposed while a read is pending: let the cancelled read finish first.
    private static async Task DisposeQuietlyAsync(IAsyncEnumerator<TelemetryRecord> records, Task<bool>? pending)
    {
        if (pending is not null)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IoTException or NotSupportedException or ObjectDisposedException)
            {
                // The read being abandoned; its failure is not the disposer's.
            }
        }
        await records.DisposeAsync().ConfigureAwait(false);
    }
}
