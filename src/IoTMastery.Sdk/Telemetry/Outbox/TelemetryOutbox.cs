using IoTMastery.Sdk.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace IoTMastery.Sdk;

/// <summary>
/// A durable, bounded, on-disk queue of telemetry records for one channel: records appended here survive a process
/// crash and a long outage, are read back in order, and are deleted once acknowledged.
/// </summary>
/// <remarks>
/// <para><b>Delivery semantics.</b> A record is <em>accepted</em> when <see cref="Append"/> or <see cref="AppendBatch"/>
/// returns its sequence number: from then on it is on disk as <see cref="TelemetryOutboxOptions.FsyncInterval"/> states.
/// It is <em>acknowledged</em> when <see cref="Acknowledge"/> is called with a sequence at or above it, which the caller
/// does after the broker or service confirmed it. Delivery is at-least-once: every accepted record is returned by
/// <see cref="ReadPending"/> (after a restart too) until it is acknowledged or dropped by
/// <see cref="BackpressureMode.DropOldest"/>; a record may be returned more than once (after
/// <see cref="Rewind"/>, or after a restart that happened before its acknowledgement was recorded).</para>
/// <para><b>Crash-consistency guarantee.</b></para>
/// <list type="bullet">
/// <item><description>Process crash (<c>kill -9</c>, unhandled exception, OOM kill), every <see cref="TelemetryOutboxOptions.FsyncInterval"/>: every accepted
/// record is delivered after the outbox is opened again, in sequence order, with the values it was appended with; every
/// acknowledgement that returned is kept, so acknowledged records are not delivered again.</description></item>
/// <item><description>Power loss or OS crash: <see cref="TelemetryOutboxOptions.FsyncInterval"/> = <see cref="TimeSpan.Zero"/>
/// (fsync per append) keeps every accepted record; a positive interval (group commit, the default) may lose records accepted
/// within the last interval; <see langword="null"/> (no fsync) may lose whatever the OS had not yet written back.
/// Acknowledgements may be lost (they are fsync'd only with an interval of zero), which only causes redelivery. Caveat: the directory entry of a new
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
/// <para><b>Threading.</b> All members are thread-safe; calls are serialized by one lock, except that
/// <see cref="ReadPending"/> reads and decodes committed frames, and <see cref="Acknowledge"/> writes its checkpoint,
/// outside it (with their own gates), so delivery does not hold up appends. One process at a time may
/// open a directory (an exclusive lock file enforces it).</para>
/// </remarks>
internal sealed partial class TelemetryOutbox : IDisposable
{
    private const string LockFileName = "outbox.lock";

    private readonly TelemetryOutboxOptions _options;
    private readonly string _directory;
    private readonly SafeFileHandle _directoryLock;
    private readonly Lock _lock = new();
    private readonly List<OutboxSegment> _segments;
    private readonly OutboxFrameReader _reader = new();

    // ReadPending's unlocked side (TelemetryOutbox.Replay.cs): its own read window, a gate serializing readers (taken
    // before _lock, never inside it) and a generation that every repositioning of the reader under _lock bumps, so a
    // read that raced one is dropped rather than committed.
    private readonly Lock _readGate = new();
    private readonly OutboxFrameReader _pendingReader = new();
    private long _readGeneration;

    // Serializes Acknowledge's checkpoint writes, which run outside _lock; taken before _lock, never inside it.
    private readonly Lock _ackGate = new();
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
        // Group commit: a positive interval. Zero fsyncs inline on every append, null never.
        if (options.FsyncInterval is { } interval && interval > TimeSpan.Zero)
            _groupCommit = time.CreateTimer(static state => ((TelemetryOutbox)state!).SyncActiveSegment(), this, interval, interval);
        SdkInstruments.Track(this);
    }

    /// <summary>
    /// Opens the outbox in <see cref="TelemetryOutboxOptions.Directory"/>, creating it if missing, and recovers it:
    /// torn tails are truncated, fully acknowledged segments deleted, and reading starts after the acknowledged mark.
    /// </summary>
    /// <param name="options">Where and how to store records; validated here.</param>
    /// <param name="timeProvider">Drives the group-commit timer (a positive <see cref="TelemetryOutboxOptions.FsyncInterval"/>); <see cref="TimeProvider.System"/> when null.</param>
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
    /// Unacknowledged records this instance deleted under <see cref="BackpressureMode.DropOldest"/>, plus
    /// records found lost to corruption when it opened. They are never delivered.
    /// </summary>
    public long DroppedRecords
    {
        get { lock (_lock) return _dropped; }
    }

    /// <summary>Fsyncs the active segment (unless <see cref="TelemetryOutboxOptions.FsyncInterval"/> is null) and closes the files.</summary>
    public void Dispose()
    {
        SdkInstruments.Untrack(this);
        _groupCommit?.Dispose();
        // _ackGate first: no checkpoint is written once the directory lock is released.
        lock (_ackGate)
        {
            lock (_lock)
            {
                if (_disposed) return;
                _disposed = true;
                try
                {
                    // Truncating the mapped tail first, so the fsync also covers the file's final length.
                    _segments[^1].Unmap();
                    if (_options.FsyncInterval is not null && _dirty)
                        RandomAccess.FlushToDisk(_segments[^1].Handle);
                }
                finally
                {
                    foreach (var segment in _segments) segment.CloseHandle();
                    _directoryLock.Dispose();
                }
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
