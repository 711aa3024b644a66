using Microsoft.Win32.SafeHandles;

namespace IoTMastery.Sdk;

// Replay side: reading pending records in order, acknowledging them, and deleting fully acknowledged segments.
internal sealed partial class TelemetryOutbox
{
    /// <summary>
    /// Copies the next pending records, in sequence order, into <paramref name="destination"/> and moves the read position
    /// past them. The records returned have consecutive sequence numbers starting at <paramref name="firstSequence"/>, so
    /// after sending them call <see cref="Acknowledge"/> with <c>firstSequence + count - 1</c>, or <see cref="Rewind"/> if the send failed.
    /// </summary>
    /// <param name="destination">Receives the records.</param>
    /// <param name="firstSequence">The sequence number of <c>destination[0]</c>; when none is returned, the next one to be read.</param>
    /// <returns>How many records were copied; 0 when nothing is pending beyond the read position.</returns>
    /// <exception cref="InvalidDataException">Committed data became unreadable while the outbox was open (the file was modified).</exception>
    public int ReadPending(Span<TelemetryRecord> destination, out long firstSequence)
    {
        // Frames below a segment's committed length never change, so they are read and decoded outside the outbox lock:
        // the lock is held only to take a snapshot of the read position (and move to the next segment) and to move the
        // position past what was read. Decoding a 4,096-record chunk under the lock took about a millisecond, and a
        // writer blocked that long behind it is what kept one producer awaiting each WriteAsync far below its CPU-bound
        // rate (issue #18). _readGate serializes readers among themselves (one read window, one position); it is always
        // taken before _lock, never inside it.
        lock (_readGate)
        {
            firstSequence = 0;
            int count = 0;
            while (count < destination.Length)
            {
                bool pending = TryBeginRead(count == 0 ? 0 : firstSequence + count, out var read);
                if (count == 0) firstSequence = read.Sequence;
                if (!pending) break;
                int got = 0;
                var status = OutboxFrameStatus.Ok;
                long offset = read.Offset, sequence = read.Sequence;
                InvalidDataException? undecodable = null;
                bool closedMeanwhile = false;
                try
                {
                    var target = destination[count..];
                    while (got < target.Length && offset < read.Limit)
                    {
                        status = _pendingReader.TryRead(read.Handle, offset, read.Limit, out var frame);
                        if (status != OutboxFrameStatus.Ok) break;
                        try
                        {
                            // Names through the process-wide interning tables the fleet-side readers use: decoding allocated two strings
                            // per record (about 145 B), and the gen-0 collections that caused also stopped the producer thread (issue #18).
                            target[got] = OutboxFrame.Decode(frame, TelemetryBatchDecoder.Shared);
                        }
                        catch (InvalidDataException ex)
                        {
                            // As before the split: the read position stays at the frame that does not decode.
                            undecodable = ex;
                            break;
                        }
                        got++;
                        offset += frame.Length;
                        sequence = OutboxFrame.Sequence(frame) + 1;
                    }
                }
                catch (ObjectDisposedException)
                {
                    // The handle was closed while this read ran: only a repositioning of the reader (DropOldest deleting this
                    // segment, an acknowledgement, a rewind) or Dispose closes the read segment's handle, and each bumps the
                    // generation or disposes the outbox, so this read is dropped below like any other that raced one.
                    closedMeanwhile = true;
                }
                finally
                {
                    // Taken under the lock in TryBeginRead, so the descriptor stayed ours until here even if it was closed.
                    read.Handle.DangerousRelease();
                }
                if (closedMeanwhile || !EndRead(read, offset, sequence))
                {
                    // The position moved under us (a rewind, an acknowledgement or DropOldest repositioned the reader):
                    // what was read is dropped and, unless earlier segments already produced records, read again.
                    if (count > 0) break;
                    continue;
                }
                count += got;
                if (undecodable is not null) throw undecodable;
                if (status != OutboxFrameStatus.Ok)
                    throw new InvalidDataException($"Outbox segment '{read.Segment.FilePath}' is {status} at offset {offset}, below its committed length.");
            }
            return count;
        }
    }

    /// <summary>Where one unlocked read starts: a segment, its handle, the committed range to read and the position's generation.</summary>
    private readonly record struct PendingRead(OutboxSegment Segment, SafeFileHandle Handle, long Offset, long Limit, long Sequence, long Generation);

    /// <summary>
    /// Under the lock: moves the reader to the next segment when the current one is read to its end, and takes a snapshot of
    /// the position, with a reference on the segment's handle that the caller releases; false (with no handle, and
    /// <see cref="PendingRead.Sequence"/> the next sequence to read) when nothing is pending or,
    /// when this call already returned records (<paramref name="continuing"/> is the sequence that must come next, else 0),
    /// the position no longer continues them: a gap between segments, or DropOldest moved the reader meanwhile. Records
    /// returned by one call always have consecutive sequence numbers.
    /// </summary>
    private bool TryBeginRead(long continuing, out PendingRead read)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            while (_readOffset >= _readSegment.Length)
            {
                int index = _segments.IndexOf(_readSegment);
                var next = index == _segments.Count - 1 ? null : _segments[index + 1];
                if (next is null || (continuing != 0 && next.BaseSequence != _readSequence)) break;
                _readSegment.CloseHandle();
                _readSegment = next;
                _readOffset = OutboxSegment.HeaderBytes;
                _readSequence = Math.Max(_readSequence, next.BaseSequence);
                _readGeneration++;
            }
            bool pending = _readOffset < _readSegment.Length && (continuing == 0 || _readSequence == continuing);
            SafeFileHandle handle = null!;
            if (pending)
            {
                // Referenced here, under the lock where no one can close it, and released by ReadPending after its read: a
                // concurrent close then only marks it closed (a read fails with ObjectDisposedException, handled there) rather
                // than failing to take the reference at all.
                handle = _readSegment.Handle;
                bool referenced = false;
                handle.DangerousAddRef(ref referenced);
            }
            read = new PendingRead(_readSegment, handle, _readOffset, _readSegment.Length, _readSequence, _readGeneration);
            return pending;
        }
    }

    /// <summary>Under the lock: moves the read position past what an unlocked read returned, unless the position was moved meanwhile.</summary>
    private bool EndRead(in PendingRead read, long offset, long sequence)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            if (_readGeneration != read.Generation) return false;
            _readOffset = offset;
            _readSequence = sequence;
            return true;
        }
    }

    /// <summary>
    /// Marks every record up to <paramref name="upToSequence"/> as acknowledged: persists the mark (write-temp + rename)
    /// and deletes segments whose records are all acknowledged. A mark at or below the current one is ignored.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="upToSequence"/> is above <see cref="LastSequence"/>.</exception>
    public void Acknowledge(long upToSequence)
    {
        // The checkpoint (create, write, rename; an fsync too with FsyncInterval zero) is written outside _lock, so
        // appends do not wait behind its system calls (issue #18); _ackGate keeps checkpoint writes in order and out of
        // Dispose's way. The mark in memory moves only after the checkpoint was written, as before.
        lock (_ackGate)
        {
            lock (_lock)
            {
                ThrowIfDisposed();
                ArgumentOutOfRangeException.ThrowIfGreaterThan(upToSequence, _nextSequence - 1);
                if (upToSequence <= _acknowledged) return;
            }
            OutboxCheckpoint.Write(_directory, upToSequence, _options.FsyncInterval == TimeSpan.Zero);
            lock (_lock)
            {
                ThrowIfDisposed();
                // DropOldest may have moved the mark past this one meanwhile; the mark never moves back.
                if (upToSequence <= _acknowledged) return;
                _acknowledged = upToSequence;
                while (_segments.Count > 1 && _segments[0].LastSequence <= _acknowledged)
                    RemoveOldestSegment();
                if (_readSequence <= _acknowledged) PositionReader(_acknowledged + 1);
            }
        }
    }

    /// <summary>Moves the read position back to just after the acknowledged mark, so unacknowledged records are read again (after a failed send or a reconnect).</summary>
    public void Rewind()
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            PositionReader(_acknowledged + 1);
        }
    }

    private void RemoveOldestSegment()
    {
        var oldest = _segments[0];
        _segments.RemoveAt(0);
        _diskBytes -= oldest.Length;
        if (ReferenceEquals(oldest, _readSegment))
        {
            _readGeneration++;
            _readSegment = _segments[0];
            _readOffset = OutboxSegment.HeaderBytes;
            _readSequence = Math.Max(_readSequence, _readSegment.BaseSequence);
        }
        oldest.Delete();
    }

    /// <summary>Points the reader at the first record at or after <paramref name="sequence"/>, scanning within its segment.</summary>
    private void PositionReader(long sequence)
    {
        _readGeneration++;
        if (!ReferenceEquals(_readSegment, _segments[^1])) _readSegment.CloseHandle();
        var target = _segments.Find(s => s.LastSequence >= sequence) ?? _segments[^1];
        _readSegment = target;
        if (target.LastSequence < sequence)
        {
            _readOffset = target.Length;
            _readSequence = Math.Max(sequence, _nextSequence);
            return;
        }
        _readOffset = OutboxSegment.HeaderBytes;
        _readSequence = target.BaseSequence;
        while (_readSequence < sequence)
        {
            if (_reader.TryRead(target.Handle, _readOffset, target.Length, out var frame) != OutboxFrameStatus.Ok)
                throw new InvalidDataException($"Outbox segment '{target.FilePath}' is unreadable at offset {_readOffset}, below its committed length.");
            _readOffset += frame.Length;
            _readSequence++;
        }
    }
}
