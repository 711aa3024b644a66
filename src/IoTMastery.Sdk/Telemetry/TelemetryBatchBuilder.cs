namespace IoTMastery.Sdk;

/// <summary>What <see cref="TelemetryBatchBuilder.Add"/> did with a record.</summary>
internal enum BatchAddResult
{
    /// <summary>The record joined the open batch.</summary>
    Added,

    /// <summary>A batch is complete and waits in <see cref="TelemetryBatchBuilder.TakeReady"/>; the record is in the open batch.</summary>
    Ready,

    /// <summary>The record alone is larger than a message may be; it was not added.</summary>
    TooLarge,
}

/// <summary>
/// Encodes records straight into pooled message buffers and cuts messages by record count, bytes
/// and billing units. When a size or count cap forces a cut, the message ends at the last whole
/// billing unit if that fills units better, and the tail records move to the next message.
/// Single-threaded: only the batcher uses it.
/// </summary>
internal sealed class TelemetryBatchBuilder
{
    private readonly ITelemetryEncoder _encoder;
    // The default encoder is called directly (no interface dispatch, separator written with the record); null for others.
    private readonly TelemetryJsonEncoder? _json;
    private readonly TelemetryJsonEncoder.HeadTable _heads = TelemetryJsonEncoder.NewHeadTable();
    private readonly Func<OutgoingBatch> _rent;
    private readonly int _maxRecords;
    private readonly int _maxBytes;
    private readonly int _unit;
    private readonly int _prefixLength;
    private readonly int _separatorLength;
    private readonly int _suffixLength;
    private readonly int _overhead;
    private OutgoingBatch? _open;
    private OutgoingBatch? _ready;
    private int _cutCount;
    private int _cutLength;
    private int _nextBoundary;

    public TelemetryBatchBuilder(ITelemetryEncoder encoder, int maxRecords, int maxBytes, int billingUnitBytes, Func<OutgoingBatch> rent, int billingOverheadBytes = 0)
    {
        _encoder = encoder;
        _json = encoder as TelemetryJsonEncoder;
        _rent = rent;
        _maxRecords = maxRecords;
        _maxBytes = maxBytes;
        _prefixLength = encoder.BatchPrefix.Length;
        _separatorLength = encoder.RecordSeparator.Length;
        _suffixLength = encoder.BatchSuffix.Length;
        // A unit larger than a whole message cannot be filled, so packing by unit would only add cuts.
        _unit = billingUnitBytes > 0 && billingUnitBytes <= maxBytes ? billingUnitBytes : 0;
        _overhead = Math.Max(0, billingOverheadBytes);
        _nextBoundary = int.MaxValue;
    }

    /// <summary>Records in the open (not yet complete) batch.</summary>
    public int OpenCount => _open?.Count ?? 0;

    public BatchAddResult Add(in TelemetryRecord record)
    {
        var batch = _open ??= Start();
        var buffer = batch.Buffer;
        int mark = buffer.Length;
        int separator = batch.Count > 0 ? _separatorLength : 0;
        WriteRecord(buffer, record, separator > 0);
        int size = buffer.Length + _suffixLength;
        if (size <= _maxBytes)
        {
            if (size + _overhead > _nextBoundary) CrossBoundary(batch.Count, mark, size);
            if (++batch.Count >= _maxRecords)
            {
                Cut(0);
                return BatchAddResult.Ready;
            }
            return BatchAddResult.Added;
        }

        int recordBytes = buffer.Length - mark - separator;
        buffer.Truncate(mark);
        if (_prefixLength + recordBytes + _suffixLength > _maxBytes) return BatchAddResult.TooLarge;
        Cut(recordBytes);
        // Fits by construction: Cut only carries a tail that leaves room for this record.
        batch = _open ??= Start();
        buffer = batch.Buffer;
        mark = buffer.Length;
        WriteRecord(buffer, record, batch.Count > 0);
        size = buffer.Length + _suffixLength;
        if (size + _overhead > _nextBoundary) CrossBoundary(batch.Count, mark, size);
        batch.Count++;
        if (batch.Count >= _maxRecords && _ready is null) Cut(0);
        return BatchAddResult.Ready;
    }

    private void WriteRecord(PooledBufferWriter buffer, in TelemetryRecord record, bool separator)
    {
        if (_json is { } json)
        {
            json.WriteRecord(buffer, record, separator, _heads);
            return;
        }
        if (separator) buffer.Write(_encoder.RecordSeparator);
        _encoder.WriteRecord(buffer, record);
    }

    /// <summary>Closes the open batch as it is (linger, flush, drain). False when it was empty.</summary>
    public bool Complete()
    {
        if (_open is not { Count: > 0 } batch) return false;
        batch.Buffer.Write(_encoder.BatchSuffix);
        _ready = batch;
        _open = null;
        return true;
    }

    /// <summary>Hands over the completed batch, if any.</summary>
    public OutgoingBatch? TakeReady()
    {
        var ready = _ready;
        _ready = null;
        return ready;
    }

    /// <summary>Returns the open batch, if any, for disposal.</summary>
    public OutgoingBatch? TakeOpen()
    {
        var open = _open;
        _open = null;
        return open;
    }

    private OutgoingBatch Start()
    {
        var batch = _rent();
        batch.Buffer.Write(_encoder.BatchPrefix);
        _cutCount = 0;
        _nextBoundary = _unit > 0 ? RoundUp(_prefixLength + _suffixLength + _overhead) : int.MaxValue;
        return batch;
    }

    // The record just written pushed the message into a new unit: the message before it is the best whole-unit cut so far.
    private void CrossBoundary(int countBefore, int lengthBefore, int size)
    {
        if (countBefore > 0)
        {
            _cutCount = countBefore;
            _cutLength = lengthBefore;
        }
        _nextBoundary = RoundUp(size + _overhead);
    }

    private void Cut(int pendingRecordBytes)
    {
        var batch = _open!;
        var buffer = batch.Buffer;
        OutgoingBatch? next = null;
        int cutCount = _cutCount, cutLength = _cutLength;
        if (cutCount > 0)
        {
            // Units are counted on the metered size: payload plus the per-message overhead.
            long size = buffer.Length + _suffixLength + _overhead;
            long cutSize = cutLength + _suffixLength + _overhead;
            long unitsAll = Units(size), unitsCut = Units(cutSize);
            int carryStart = cutLength + _separatorLength;
            int carryBytes = buffer.Length - carryStart;
            int nextSize = _prefixLength + carryBytes + (pendingRecordBytes > 0 ? _separatorLength + pendingRecordBytes : 0) + _suffixLength;
            // Cut at the whole-unit boundary only when that fills the billed units better than sending everything.
            if (size * unitsCut < cutSize * unitsAll && nextSize <= _maxBytes)
            {
                int carryCount = batch.Count - cutCount;
                next = Start();
                next.Buffer.Write(buffer.WrittenSpan[carryStart..]);
                next.Count = carryCount;
                buffer.Truncate(cutLength);
                batch.Count = cutCount;
                _nextBoundary = RoundUp(next.Buffer.Length + _suffixLength + _overhead);
            }
        }
        buffer.Write(_encoder.BatchSuffix);
        _ready = batch;
        _open = next;
        _cutCount = 0;
    }

    private long Units(long bytes) => (bytes + _unit - 1) / _unit;

    private int RoundUp(int bytes) => (int)Math.Min(int.MaxValue, Units(bytes) * _unit);
}
