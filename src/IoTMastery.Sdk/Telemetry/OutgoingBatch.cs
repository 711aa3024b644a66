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

    public void Reset()
    {
        Buffer.Clear();
        Count = 0;
        Rejected = 0;
        Flushes = null;
    }
}
