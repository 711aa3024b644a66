using Microsoft.Win32.SafeHandles;

namespace IoTMastery.Sdk;

// Append side: encoding records into frames, the disk bound, segment rolls and the group-commit fsync timer.
internal sealed partial class TelemetryOutbox
{
    /// <summary>Stores one record; returns its sequence number once it is accepted (durable per the configured mode).</summary>
    /// <exception cref="ArgumentException">The record is <c>default</c>, or a name exceeds 65,535 UTF-8 bytes.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.OutboxFull"/>: The outbox is full under <see cref="BackpressureMode.FailFast"/>.</exception>
    /// <exception cref="IOException">The write failed; the record is not accepted.</exception>
    public long Append(in TelemetryRecord record)
    {
        ThrowIfUninitialized(record);
        lock (_lock)
        {
            ThrowIfDisposed();
            EnsureEncodeCapacity(OutboxFrame.MaxFrameBytes(record));
            int length = OutboxFrame.Write(_encodeBuffer, _nextSequence, record);
            return Commit(_encodeBuffer.AsSpan(0, length));
        }
    }

    /// <summary>
    /// Stores records in order, with one write and (with a <see cref="TelemetryOutboxOptions.FsyncInterval"/> of zero) one fsync for the
    /// batch; returns the sequence number of the last one once all are accepted. An empty batch returns <see cref="LastSequence"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A record is <c>default</c>, or a name exceeds 65,535 UTF-8 bytes; nothing is written.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.OutboxFull"/>: The batch does not fit under <see cref="BackpressureMode.FailFast"/>, or is larger than the whole bound; nothing is written.</exception>
    /// <exception cref="IOException">The write failed; no record of the batch is accepted, though a prefix may be delivered.</exception>
    public long AppendBatch(ReadOnlySpan<TelemetryRecord> records)
    {
        foreach (ref readonly var record in records) ThrowIfUninitialized(record);
        lock (_lock)
        {
            ThrowIfDisposed();
            if (records.IsEmpty) return _nextSequence - 1;
            int total = 0;
            long sequence = _nextSequence;
            foreach (ref readonly var record in records)
            {
                EnsureEncodeCapacity(total + OutboxFrame.MaxFrameBytes(record));
                total += OutboxFrame.Write(_encodeBuffer.AsSpan(total), sequence++, record);
            }
            return Commit(_encodeBuffer.AsSpan(0, total));
        }
    }

    private long Commit(ReadOnlySpan<byte> frames)
    {
        MakeRoom(frames);
        var active = _segments[^1];
        int chunkStart = 0, position = 0;
        long segmentLength = active.Length;
        while (position < frames.Length)
        {
            int length = OutboxFrame.FrameLength(frames[position..]);
            if (segmentLength + length > _options.SegmentBytes && segmentLength > OutboxSegment.HeaderBytes)
            {
                WriteChunk(active, frames[chunkStart..position]);
                chunkStart = position;
                active = Roll();
                segmentLength = OutboxSegment.HeaderBytes;
            }
            segmentLength += length;
            position += length;
        }
        WriteChunk(active, frames[chunkStart..]);
        if (_options.FsyncInterval == TimeSpan.Zero) RandomAccess.FlushToDisk(active.Handle);
        else _dirty = true;
        return _nextSequence - 1;
    }

    private void WriteChunk(OutboxSegment segment, ReadOnlySpan<byte> frames)
    {
        if (frames.IsEmpty) return;
        segment.Write(frames);
        long last = OutboxFrame.Sequence(frames[LastFrameOffset(frames)..]);
        // State moves only after the write succeeded, so a failed write is overwritten by the next one.
        segment.Length += frames.Length;
        segment.LastSequence = last;
        _diskBytes += frames.Length;
        _nextSequence = last + 1;
    }

    private static int LastFrameOffset(ReadOnlySpan<byte> frames)
    {
        int position = 0;
        while (true)
        {
            int next = position + OutboxFrame.FrameLength(frames[position..]);
            if (next >= frames.Length) return position;
            position = next;
        }
    }

    private OutboxSegment Roll()
    {
        var full = _segments[^1];
        full.Unmap();
        if (_options.FsyncInterval is not null) RandomAccess.FlushToDisk(full.Handle);
        if (!ReferenceEquals(full, _readSegment)) full.CloseHandle();
        var segment = OutboxSegment.Create(_directory, _nextSequence);
        if (_options.MapActiveSegment) segment.Map(_options.SegmentBytes);
        _segments.Add(segment);
        _diskBytes += OutboxSegment.HeaderBytes;
        return segment;
    }

    /// <summary>Applies the disk bound before anything is written, so a rejected append leaves no trace.</summary>
    private void MakeRoom(ReadOnlySpan<byte> frames)
    {
        long needed = 0, segmentLength = _segments[^1].Length;
        for (int position = 0; position < frames.Length;)
        {
            int length = OutboxFrame.FrameLength(frames[position..]);
            if (segmentLength + length > _options.SegmentBytes && segmentLength > OutboxSegment.HeaderBytes)
            {
                needed += OutboxSegment.HeaderBytes;
                segmentLength = OutboxSegment.HeaderBytes;
            }
            needed += length;
            segmentLength += length;
            position += length;
        }
        if (_diskBytes + needed <= _options.MaxDiskBytes) return;
        if (_options.Overflow != BackpressureMode.DropOldest || needed + _segments[^1].Length > _options.MaxDiskBytes)
            throw IoTException.OutboxFull(_options.MaxDiskBytes);
        while (_diskBytes + needed > _options.MaxDiskBytes)
        {
            var oldest = _segments[0];
            _dropped += Math.Max(0, oldest.LastSequence - Math.Max(_acknowledged, oldest.BaseSequence - 1));
            _acknowledged = Math.Max(_acknowledged, oldest.LastSequence);
            RemoveOldestSegment();
        }
        if (_readSequence <= _acknowledged) PositionReader(_acknowledged + 1);
    }


    /// <summary>The group-commit tick: fsyncs the active segment outside the lock, holding a reference so a roll cannot close it mid-call.</summary>
    private void SyncActiveSegment()
    {
        if (Interlocked.Exchange(ref _syncing, 1) == 1) return;
        SafeFileHandle? handle = null;
        bool referenced = false;
        try
        {
            lock (_lock)
            {
                if (_disposed || !_dirty) return;
                _dirty = false;
                handle = _segments[^1].Handle;
                handle.DangerousAddRef(ref referenced);
            }
            RandomAccess.FlushToDisk(handle);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            // A timer callback must not throw; the next tick retries.
            lock (_lock) _dirty = true;
        }
        finally
        {
            if (referenced) handle!.DangerousRelease();
            Volatile.Write(ref _syncing, 0);
        }
    }

    private void EnsureEncodeCapacity(int bytes)
    {
        if (bytes > _encodeBuffer.Length) Array.Resize(ref _encodeBuffer, Math.Max(bytes, _encodeBuffer.Length * 2));
    }

    private static void ThrowIfUninitialized(in TelemetryRecord record)
    {
        if (!record.IsInitialized) throw new ArgumentException("default(TelemetryRecord) cannot be stored; create records with the constructor.", nameof(record));
    }
}
