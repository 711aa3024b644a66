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
        lock (_lock)
        {
            ThrowIfDisposed();
            firstSequence = _readSequence;
            int count = 0;
            while (count < destination.Length)
            {
                if (_readOffset >= _readSegment.Length)
                {
                    int index = _segments.IndexOf(_readSegment);
                    if (index == _segments.Count - 1) break;
                    var next = _segments[index + 1];
                    // A gap (records lost to corruption) ends the batch so its sequence numbers stay consecutive.
                    if (count > 0 && next.BaseSequence != _readSequence) break;
                    _readSegment.CloseHandle();
                    _readSegment = next;
                    _readOffset = OutboxSegment.HeaderBytes;
                    _readSequence = Math.Max(_readSequence, next.BaseSequence);
                    if (count == 0) firstSequence = _readSequence;
                    continue;
                }
                var status = _reader.TryRead(_readSegment.Handle, _readOffset, _readSegment.Length, out var frame);
                if (status != OutboxFrameStatus.Ok)
                    throw new InvalidDataException($"Outbox segment '{_readSegment.FilePath}' is {status} at offset {_readOffset}, below its committed length.");
                destination[count++] = OutboxFrame.Decode(frame);
                _readOffset += frame.Length;
                _readSequence = OutboxFrame.Sequence(frame) + 1;
            }
            return count;
        }
    }

    /// <summary>
    /// Marks every record up to <paramref name="upToSequence"/> as acknowledged: persists the mark (write-temp + rename)
    /// and deletes segments whose records are all acknowledged. A mark at or below the current one is ignored.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="upToSequence"/> is above <see cref="LastSequence"/>.</exception>
    public void Acknowledge(long upToSequence)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            ArgumentOutOfRangeException.ThrowIfGreaterThan(upToSequence, _nextSequence - 1);
            if (upToSequence <= _acknowledged) return;
            OutboxCheckpoint.Write(_directory, upToSequence, _options.FsyncInterval == TimeSpan.Zero);
            _acknowledged = upToSequence;
            while (_segments.Count > 1 && _segments[0].LastSequence <= _acknowledged)
                RemoveOldestSegment();
            if (_readSequence <= _acknowledged) PositionReader(_acknowledged + 1);
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
            _readSegment = _segments[0];
            _readOffset = OutboxSegment.HeaderBytes;
            _readSequence = Math.Max(_readSequence, _readSegment.BaseSequence);
        }
        oldest.Delete();
    }

    /// <summary>Points the reader at the first record at or after <paramref name="sequence"/>, scanning within its segment.</summary>
    private void PositionReader(long sequence)
    {
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
