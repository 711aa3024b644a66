namespace IoTMastery.Sdk;

/// <summary>Where and how a telemetry outbox (a durable pipeline's, <see cref="TelemetryPipelineOptions.Outbox"/>, or the lake exporter's spool) stores records.</summary>
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

    /// <summary>
    /// How often the segment being written is fsync'd, i.e. what "accepted" guarantees on disk. Every setting survives a
    /// process crash (<c>kill -9</c>): an accepted record is in the page cache, which outlives the process. They differ on
    /// power loss or an OS crash:
    /// <list type="bullet">
    /// <item><description>A positive interval (group commit; default 100 ms): a background timer fsyncs at this interval, and a
    /// full segment is fsync'd before the next one starts. At most the records accepted in the last interval may be lost.
    /// Nearly the speed of no fsync, with a bounded loss window.</description></item>
    /// <item><description><see cref="TimeSpan.Zero"/>: every <see cref="TelemetryOutbox.Append"/> /
    /// <see cref="TelemetryOutbox.AppendBatch"/> fsyncs before it returns, and every <see cref="TelemetryOutbox.Acknowledge"/>
    /// fsyncs its checkpoint. No accepted record is lost. Slowest: append in batches to amortize the fsync.</description></item>
    /// <item><description><see langword="null"/>: never fsync'd by the outbox; the OS writes the file back when it
    /// chooses, so records accepted since then (typically up to ~30 s on Linux) may be lost. The fastest.</description></item>
    /// </list>
    /// At most one day.
    /// </summary>
    public TimeSpan? FsyncInterval { get; init; } = TimeSpan.FromMilliseconds(100);

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
        // A day bounds the timer well inside what TimeProvider accepts; the OS writes dirty pages back far sooner anyway.
        if (FsyncInterval is { } interval && (interval < TimeSpan.Zero || interval > TimeSpan.FromDays(1)))
            throw new ArgumentOutOfRangeException(nameof(FsyncInterval), interval,
                "FsyncInterval must be between zero (fsync every append) and one day; null turns the outbox's fsync off.");
    }
}

