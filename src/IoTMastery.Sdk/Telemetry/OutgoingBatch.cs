namespace IoTMastery.Sdk;

/// <summary>An encoded batch travelling from the batcher to the sender; pooled and reused.</summary>
internal sealed class OutgoingBatch
{
    public OutgoingBatch(int initialBytes) => Buffer = new PooledBufferWriter(initialBytes);

    public PooledBufferWriter Buffer { get; }

    /// <summary>Records in <see cref="Buffer"/>; zero for an item that only carries flush requests.</summary>
    public int Count;

    /// <summary>Records refused before this batch (too large to encode alone), counted failed when it is processed.</summary>
    public int Rejected;

    /// <summary>Flushes that complete once this batch is resolved.</summary>
    public List<TaskCompletionSource<long>>? Flushes;

    /// <summary>Durable mode: the outbox sequence of the first record; records are consecutive.</summary>
    public long FirstSequence;

    /// <summary>Durable mode: the outbox mark this item resolves (its last record, or a refused record).</summary>
    public long AckSequence;

    /// <summary>Durable mode: the rewind epoch it was read in; the sender discards items of an older epoch.</summary>
    public int Epoch;

    // ---- In-memory mode's send window (under the pipeline's send gate unless noted) ----

    /// <summary>The first attempt cycle finished; <see cref="Failure"/> is its outcome.</summary>
    public bool Done;

    /// <summary>The final failure of the attempt cycle, or <see langword="null"/> once acknowledged.</summary>
    public Exception? Failure;

    /// <summary>An attempt failed and a retry is coming (set before the retry waits for its turn).</summary>
    public bool Retried;

    /// <summary>Sent before an earlier batch's retry was delivered, so it is sent again after it to restore the order.</summary>
    public bool NeedsReplay;

    /// <summary>Completed when this batch becomes the oldest unresolved one: its retry may go.</summary>
    public TaskCompletionSource? Turn;

    /// <summary>Cached per pooled batch: waits for <see cref="Turn"/> before a retry.</summary>
    public Func<ValueTask>? WaitForTurn;

    public void Reset()
    {
        Done = false;
        Failure = null;
        Retried = false;
        NeedsReplay = false;
        Turn = null;
        FirstSequence = 0;
        AckSequence = 0;
        Epoch = 0;
        Buffer.Clear();
        Count = 0;
        Rejected = 0;
        Flushes = null;
    }
}
