namespace IoTMastery.Sdk;

/// <summary>
/// When <see cref="TelemetryOutbox.Append"/> returns, i.e. what "accepted" means on disk.
/// Every mode survives a process crash (<c>kill -9</c>); they differ on power loss or an OS crash.
/// </summary>
public enum OutboxDurability
{
    /// <summary>
    /// The record is written into the operating system's page cache before the append returns; nothing is fsync'd.
    /// Survives a process crash. On power loss or an OS crash, records accepted since the OS last wrote the
    /// file back (typically up to ~30 s on Linux) may be lost. The fastest mode.
    /// </summary>
    OsBuffered,

    /// <summary>
    /// As <see cref="OsBuffered"/>, and a background timer fsyncs the active segment every
    /// <see cref="TelemetryOutboxOptions.GroupCommitInterval"/>; a full segment is fsync'd before the next one starts.
    /// Survives a process crash. On power loss, at most the records accepted in the last interval may be lost.
    /// The default: nearly the speed of <see cref="OsBuffered"/> with a bounded loss window.
    /// </summary>
    GroupCommit,

    /// <summary>
    /// Every <see cref="TelemetryOutbox.Append"/> / <see cref="TelemetryOutbox.AppendBatch"/> fsyncs before it returns.
    /// Survives a process crash and power loss for every accepted record. Slowest: batch appends to amortize the fsync.
    /// </summary>
    FsyncPerAppend,
}

/// <summary>Where and how a <see cref="TelemetryOutbox"/> stores records.</summary>
public sealed record TelemetryOutboxOptions
{
    /// <summary>The directory holding the outbox files; created if missing. One outbox per directory.</summary>
    public required string Directory { get; init; }

    /// <summary>
    /// Size at which a segment file is closed and a new one started; whole segments are the unit of compaction
    /// and of <see cref="BackpressureMode.DropOldest"/>. Default 8 MiB; at least 4 KiB.
    /// </summary>
    public long SegmentBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Most bytes all segment files may hold together. Default 256 MiB; at least twice <see cref="SegmentBytes"/>.</summary>
    public long MaxDiskBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// What happens when an append would exceed <see cref="MaxDiskBytes"/>: <see cref="BackpressureMode.FailFast"/> (default)
    /// or <see cref="BackpressureMode.DropOldest"/>. <see cref="BackpressureMode.Wait"/> is refused: an append never blocks.
    /// </summary>
    public BackpressureMode Overflow { get; init; } = BackpressureMode.FailFast;

    /// <summary>What "accepted" guarantees on disk. Default <see cref="OutboxDurability.GroupCommit"/>.</summary>
    public OutboxDurability Durability { get; init; } = OutboxDurability.GroupCommit;

    /// <summary>How often <see cref="OutboxDurability.GroupCommit"/> fsyncs. Default 100 ms.</summary>
    public TimeSpan GroupCommitInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Whether the segment being written is memory-mapped (Linux only; see <c>OutboxSegment</c>). Internal: on for
    /// everyone; benchmarks and tests turn it off to compare with one <c>pwrite</c> per append.
    /// </summary>
    internal bool MapActiveSegment { get; init; } = true;

    /// <summary>Checks the settings; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Directory);
        if (SegmentBytes is < 4096 or > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(SegmentBytes), SegmentBytes, "SegmentBytes must be between 4 KiB and 2 GiB.");
        if (MaxDiskBytes < 2 * SegmentBytes)
            throw new ArgumentOutOfRangeException(nameof(MaxDiskBytes), MaxDiskBytes, "MaxDiskBytes must be at least twice SegmentBytes.");
        if (!Enum.IsDefined(Overflow)) throw new ArgumentOutOfRangeException(nameof(Overflow), Overflow, "Unknown overflow mode.");
        // Room comes only from acknowledgements the caller itself makes, so an append that waited for them could wait forever;
        // a pipeline in Wait mode waits above the outbox instead.
        if (Overflow == BackpressureMode.Wait)
            throw new ArgumentException(
                "Overflow = Wait is not supported by an outbox: an append never blocks; use FailFast (refuse the append) or DropOldest " +
                "(delete the oldest segments). A TelemetryPipeline with Backpressure = Wait waits above its outbox.",
                nameof(Overflow));
        if (!Enum.IsDefined(Durability)) throw new ArgumentOutOfRangeException(nameof(Durability), Durability, "Unknown durability mode.");
        if (GroupCommitInterval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(GroupCommitInterval), GroupCommitInterval, "GroupCommitInterval must be positive.");
    }
}

