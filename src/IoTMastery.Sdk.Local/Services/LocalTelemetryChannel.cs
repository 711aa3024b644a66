using System.Threading.Channels;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// Fans telemetry that devices published out to every current reader of <see cref="ReadAllAsync"/>.
/// </summary>
/// <remarks>
/// Each reader has its own bounded buffer of <see cref="ReaderCapacity"/> records. The broker never waits
/// for readers: when a reader's buffer is full the newest records for that reader are dropped and counted
/// in <see cref="DroppedRecords"/>, so one slow consumer cannot stall devices or other readers. Records
/// that arrive while nobody reads are discarded and counted in <see cref="UnreadRecords"/>: the channel is
/// a live stream, not a store. Order per device is preserved for every reader.
/// </remarks>
internal sealed class LocalTelemetryChannel : ITelemetryChannel, ILocalTelemetrySink
{
    private readonly Lock _lock = new();
    private Channel<TelemetryRecord>[] _readers = [];
    private long _dropped;
    private long _unread;
    private long _rejected;

    /// <summary>Creates the channel.</summary>
    /// <param name="readerCapacity">Records buffered per reader before drops start. Default 10,000.</param>
    public LocalTelemetryChannel(int readerCapacity = 10_000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(readerCapacity, 1);
        ReaderCapacity = readerCapacity;
    }

    /// <summary>Records buffered per reader.</summary>
    public int ReaderCapacity { get; }

    /// <summary>Records a slow reader missed because its buffer was full.</summary>
    public long DroppedRecords => Interlocked.Read(ref _dropped);

    /// <summary>Records that arrived while there was no reader.</summary>
    public long UnreadRecords => Interlocked.Read(ref _unread);

    /// <summary>Records or batches the broker refused: malformed, or claiming another device's id.</summary>
    public long RejectedRecords => Interlocked.Read(ref _rejected);

    /// <summary>The number of active readers.</summary>
    public int ReaderCount => Volatile.Read(ref _readers).Length;

    /// <inheritdoc />
    public async IAsyncEnumerable<TelemetryRecord> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateBounded<TelemetryRecord>(
            new BoundedChannelOptions(ReaderCapacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true, SingleWriter = false },
            _ => Interlocked.Increment(ref _dropped));
        lock (_lock) _readers = [.. _readers, channel];
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var record))
                    yield return record;
            }
        }
        finally
        {
            lock (_lock) _readers = _readers.Where(r => r != channel).ToArray();
        }
    }

    /// <summary>Hands records to every reader without waiting.</summary>
    internal void Publish(IReadOnlyList<TelemetryRecord> records)
    {
        var readers = Volatile.Read(ref _readers);
        if (readers.Length == 0)
        {
            Interlocked.Add(ref _unread, records.Count);
            return;
        }
        foreach (var reader in readers)
        {
            foreach (var record in records)
                reader.Writer.TryWrite(record);
        }
    }

    /// <inheritdoc />
    public TelemetryIntake Accept(IReadOnlyList<TelemetryRecord> records)
    {
        Publish(records);
        return TelemetryIntake.Accepted;
    }

    /// <inheritdoc />
    public void CountRejected(int count) => Interlocked.Add(ref _rejected, count);
}
