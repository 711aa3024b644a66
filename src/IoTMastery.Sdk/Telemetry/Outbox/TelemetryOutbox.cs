using IoTMastery.Sdk.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace IoTMastery.Sdk;

/// <summary>
/// A durable, bounded, on-disk queue of telemetry records for one channel: records appended here survive a process
/// crash and a long outage, are read back in order, and are deleted once acknowledged.
/// </summary>
/// <remarks>
/// <para><b>Delivery semantics.</b> A record is <em>accepted</em> when <see cref="Append"/> or <see cref="AppendBatch"/>
/// returns its sequence number: from then on it is on disk as <see cref="TelemetryOutboxOptions.Durability"/> states.
/// It is <em>acknowledged</em> when <see cref="Acknowledge"/> is called with a sequence at or above it, which the caller
/// does after the broker or service confirmed it. Delivery is at-least-once: every accepted record is returned by
/// <see cref="ReadPending"/> (after a restart too) until it is acknowledged or dropped by
/// <see cref="OutboxOverflowPolicy.DropOldestSegment"/>; a record may be returned more than once (after
/// <see cref="Rewind"/>, or after a restart that happened before its acknowledgement was recorded).</para>
/// <para><b>Crash-consistency guarantee.</b></para>
/// <list type="bullet">
/// <item><description>Process crash (<c>kill -9</c>, unhandled exception, OOM kill), every durability mode: every accepted
/// record is delivered after the outbox is opened again, in sequence order, with the values it was appended with; every
/// acknowledgement that returned is kept, so acknowledged records are not delivered again.</description></item>
/// <item><description>Power loss or OS crash: <see cref="OutboxDurability.FsyncPerAppend"/> keeps every accepted record;
/// <see cref="OutboxDurability.GroupCommit"/> may lose records accepted within the last
/// <see cref="TelemetryOutboxOptions.GroupCommitInterval"/>; <see cref="OutboxDurability.OsBuffered"/> may lose whatever
/// the OS had not yet written back. Acknowledgements may be lost (they are fsync'd only in
/// <see cref="OutboxDurability.FsyncPerAppend"/>), which only causes redelivery. Caveat: the directory entry of a new
/// segment file is not fsync'd (.NET cannot open a directory handle); on ext4/xfs the file's fsync commits it in
/// practice, which POSIX does not promise.</description></item>
/// <item><description>Recovery on <see cref="Open"/>: each segment is scanned; the first frame whose length, CRC-32 or
/// sequence number is wrong ends that segment, and the file is truncated there (a torn tail from a crash mid-write).
/// Frames after it are never returned, so corrupt data is never delivered. Records lost that way between segments are
/// counted in <see cref="DroppedRecords"/>. Sequence numbers resume after the highest one found or acknowledged.</description></item>
/// <item><description>A crash inside <see cref="AppendBatch"/> (before it returned) may keep any prefix of the batch,
/// which is then delivered although it was never accepted.</description></item>
/// </list>
/// <para><b>Disk use.</b> Segment files together hold at most <see cref="TelemetryOutboxOptions.MaxDiskBytes"/> bytes of
/// content (file-system block rounding aside); <see cref="TelemetryOutboxOptions.Overflow"/> says what an append does
/// when it would not fit. A segment is deleted once every record in it is acknowledged, except the segment being written.</para>
/// <para>The on-disk format, the measured throughput per mode and how the pipeline drives the outbox are in <c>docs/OUTBOX.md</c>.</para>
/// <para><b>Threading.</b> All members are thread-safe; calls are serialized by one lock. One process at a time may
/// open a directory (an exclusive lock file enforces it).</para>
/// </remarks>
public sealed class TelemetryOutbox : IDisposable
{
    private const string LockFileName = "outbox.lock";

    private readonly TelemetryOutboxOptions _options;
    private readonly string _directory;
    private readonly SafeFileHandle _directoryLock;
    private readonly Lock _lock = new();
    private readonly List<OutboxSegment> _segments;
    private readonly OutboxFrameReader _reader = new();
    private readonly ITimer? _groupCommit;
    private byte[] _encodeBuffer = new byte[16 * 1024];
    private long _nextSequence;
    private long _acknowledged;
    private long _diskBytes;
    private long _dropped;
    private OutboxSegment _readSegment;
    private long _readOffset;
    private long _readSequence;
    private bool _dirty;
    private int _syncing;
    private bool _disposed;

    private TelemetryOutbox(TelemetryOutboxOptions options, SafeFileHandle directoryLock, TimeProvider time)
    {
        _options = options;
        _directory = options.Directory;
        _directoryLock = directoryLock;
        _segments = [];
        Recover();
        _readSegment = _segments[0];
        PositionReader(_acknowledged + 1);
        if (options.Durability == OutboxDurability.GroupCommit)
            _groupCommit = time.CreateTimer(static state => ((TelemetryOutbox)state!).SyncActiveSegment(), this,
                options.GroupCommitInterval, options.GroupCommitInterval);
        SdkInstruments.Track(this);
    }

    /// <summary>
    /// Opens the outbox in <see cref="TelemetryOutboxOptions.Directory"/>, creating it if missing, and recovers it:
    /// torn tails are truncated, fully acknowledged segments deleted, and reading starts after the acknowledged mark.
    /// </summary>
    /// <param name="options">Where and how to store records; validated here.</param>
    /// <param name="timeProvider">Drives the <see cref="OutboxDurability.GroupCommit"/> timer; <see cref="TimeProvider.System"/> when null.</param>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    /// <exception cref="IOException">The directory is in use by another outbox, or cannot be read or written.</exception>
    public static TelemetryOutbox Open(TelemetryOutboxOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Directory.CreateDirectory(options.Directory);
        SafeFileHandle directoryLock;
        try
        {
            directoryLock = File.OpenHandle(Path.Combine(options.Directory, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new IOException($"The outbox directory '{options.Directory}' is in use by another outbox.", ex);
        }
        try
        {
            return new TelemetryOutbox(options, directoryLock, timeProvider ?? TimeProvider.System);
        }
        catch
        {
            directoryLock.Dispose();
            throw;
        }
    }

    /// <summary>The sequence number of the last accepted record; 0 before the first.</summary>
    public long LastSequence
    {
        get { lock (_lock) return _nextSequence - 1; }
    }

    /// <summary>Every record up to this sequence number is acknowledged (or dropped) and will not be read again.</summary>
    public long AcknowledgedSequence
    {
        get { lock (_lock) return _acknowledged; }
    }

    /// <summary>Records on disk that are accepted but not yet acknowledged, whether or not they were read.</summary>
    public long PendingCount
    {
        get
        {
            lock (_lock)
            {
                long pending = 0;
                foreach (var segment in _segments)
                    pending += Math.Max(0, segment.LastSequence - Math.Max(_acknowledged, segment.BaseSequence - 1));
                return pending;
            }
        }
    }

    /// <summary>Bytes held by the segment files, the quantity bounded by <see cref="TelemetryOutboxOptions.MaxDiskBytes"/>.</summary>
    public long DiskBytes
    {
        get { lock (_lock) return _diskBytes; }
    }

    /// <summary>
    /// Unacknowledged records this instance deleted under <see cref="OutboxOverflowPolicy.DropOldestSegment"/>, plus
    /// records found lost to corruption when it opened. They are never delivered.
    /// </summary>
    public long DroppedRecords
    {
        get { lock (_lock) return _dropped; }
    }

    /// <summary>Stores one record; returns its sequence number once it is accepted (durable per the configured mode).</summary>
    /// <exception cref="ArgumentException">The record is <c>default</c>, or a name exceeds 65,535 UTF-8 bytes.</exception>
    /// <exception cref="TelemetryOutboxFullException">The outbox is full under <see cref="OutboxOverflowPolicy.RejectNew"/>.</exception>
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
    /// Stores records in order, with one write and (in <see cref="OutboxDurability.FsyncPerAppend"/>) one fsync for the
    /// batch; returns the sequence number of the last one once all are accepted. An empty batch returns <see cref="LastSequence"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A record is <c>default</c>, or a name exceeds 65,535 UTF-8 bytes; nothing is written.</exception>
    /// <exception cref="TelemetryOutboxFullException">The batch does not fit under <see cref="OutboxOverflowPolicy.RejectNew"/>, or is larger than the whole bound; nothing is written.</exception>
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
            OutboxCheckpoint.Write(_directory, upToSequence, _options.Durability == OutboxDurability.FsyncPerAppend);
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

    /// <summary>Fsyncs the active segment (except in <see cref="OutboxDurability.OsBuffered"/> mode) and closes the files.</summary>
    public void Dispose()
    {
        SdkInstruments.Untrack(this);
        _groupCommit?.Dispose();
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            try
            {
                if (_options.Durability != OutboxDurability.OsBuffered && _dirty)
                    RandomAccess.FlushToDisk(_segments[^1].Handle);
            }
            finally
            {
                foreach (var segment in _segments) segment.CloseHandle();
                _directoryLock.Dispose();
            }
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
        if (_options.Durability == OutboxDurability.FsyncPerAppend) RandomAccess.FlushToDisk(active.Handle);
        else _dirty = true;
        return _nextSequence - 1;
    }

    private void WriteChunk(OutboxSegment segment, ReadOnlySpan<byte> frames)
    {
        if (frames.IsEmpty) return;
        RandomAccess.Write(segment.Handle, frames, segment.Length);
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
        if (_options.Durability != OutboxDurability.OsBuffered) RandomAccess.FlushToDisk(full.Handle);
        if (!ReferenceEquals(full, _readSegment)) full.CloseHandle();
        var segment = OutboxSegment.Create(_directory, _nextSequence);
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
        if (_options.Overflow == OutboxOverflowPolicy.RejectNew || needed + _segments[^1].Length > _options.MaxDiskBytes)
            throw new TelemetryOutboxFullException(_options.MaxDiskBytes);
        while (_diskBytes + needed > _options.MaxDiskBytes)
        {
            var oldest = _segments[0];
            _dropped += Math.Max(0, oldest.LastSequence - Math.Max(_acknowledged, oldest.BaseSequence - 1));
            _acknowledged = Math.Max(_acknowledged, oldest.LastSequence);
            RemoveOldestSegment();
        }
        if (_readSequence <= _acknowledged) PositionReader(_acknowledged + 1);
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

    /// <summary>Scans every segment, truncates torn or corrupt tails, and rebuilds the in-memory state.</summary>
    private void Recover()
    {
        foreach (string temp in Directory.EnumerateFiles(_directory, "*" + OutboxCheckpoint.TempExtension))
            File.Delete(temp);
        long acknowledged = OutboxCheckpoint.Read(_directory);
        var files = new List<(long Base, string Path)>();
        foreach (string path in Directory.EnumerateFiles(_directory, "*" + OutboxSegment.Extension))
            if (OutboxSegment.TryParseFileName(path, out long baseSequence)) files.Add((baseSequence, path));
        files.Sort((a, b) => a.Base.CompareTo(b.Base));

        long lost = 0;
        foreach (var (baseSequence, path) in files)
        {
            var segment = OutboxSegment.TryOpen(path, baseSequence);
            if (segment is null)
            {
                // A header that never made it to disk: the crash came right after the file was created.
                File.Delete(path);
                continue;
            }
            if (_segments.Count > 0)
            {
                var previous = _segments[^1];
                if (baseSequence <= previous.LastSequence)
                    throw new InvalidDataException($"Outbox segment '{path}' overlaps '{previous.FilePath}'; the directory was modified by something else.");
                lost += Math.Max(0, baseSequence - 1 - Math.Max(previous.LastSequence, acknowledged));
            }
            ScanAndTruncate(segment);
            _segments.Add(segment);
        }

        if (_segments.Count > 0) acknowledged = Math.Max(acknowledged, _segments[0].BaseSequence - 1);
        _acknowledged = acknowledged;
        _nextSequence = Math.Max(acknowledged, _segments.Count > 0 ? _segments[^1].LastSequence : 0) + 1;
        _dropped = lost;

        var last = _segments.Count > 0 ? _segments[^1] : null;
        if (last is null || last.LastSequence != _nextSequence - 1 || last.Length >= _options.SegmentBytes)
            _segments.Add(OutboxSegment.Create(_directory, _nextSequence));
        for (int i = _segments.Count - 2; i >= 0; i--)
        {
            if (_segments[i].LastSequence > _acknowledged) continue;
            _segments[i].Delete();
            _segments.RemoveAt(i);
        }
        foreach (var segment in _segments)
        {
            _diskBytes += segment.Length;
            if (!ReferenceEquals(segment, _segments[^1])) segment.CloseHandle();
        }
    }

    private void ScanAndTruncate(OutboxSegment segment)
    {
        var handle = segment.Handle;
        long fileLength = RandomAccess.GetLength(handle);
        long offset = OutboxSegment.HeaderBytes, expected = segment.BaseSequence;
        while (_reader.TryRead(handle, offset, fileLength, out var frame) == OutboxFrameStatus.Ok && OutboxFrame.Sequence(frame) == expected)
        {
            offset += frame.Length;
            expected++;
        }
        if (offset < fileLength)
        {
            RandomAccess.SetLength(handle, offset);
            if (_options.Durability != OutboxDurability.OsBuffered) RandomAccess.FlushToDisk(handle);
            _reader.Reset();
        }
        segment.Length = offset;
        segment.LastSequence = expected - 1;
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

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
