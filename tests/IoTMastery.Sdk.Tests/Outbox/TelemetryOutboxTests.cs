using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Time.Testing;
using static IoTMastery.Sdk.Tests.Outbox.OutboxTestDirectory;

namespace IoTMastery.Sdk.Tests.Outbox;

public sealed class TelemetryOutboxTests : IDisposable
{
    private readonly OutboxTestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Records_round_trip_with_exact_fields()
    {
        var records = new[]
        {
            new TelemetryRecord("dévice-ü-1", "température", -12.5, new DateTimeOffset(2026, 3, 1, 10, 0, 0, TimeSpan.FromHours(5.5))),
            new TelemetryRecord("d", new string('m', TelemetryRecord.MaxMetricLength), double.MaxValue, DateTimeOffset.MinValue),
            new TelemetryRecord("d2", "x", double.Epsilon, DateTimeOffset.MaxValue),
        };
        using var outbox = TelemetryOutbox.Open(_dir.Options());

        Assert.Equal(1, outbox.Append(records[0]));
        Assert.Equal(3, outbox.AppendBatch(records.AsSpan(1)));

        var read = ReadAll(outbox);
        Assert.Equal([1L, 2L, 3L], read.Select(r => r.Sequence));
        for (int i = 0; i < records.Length; i++)
        {
            Assert.Equal(records[i], read[i].Record);
            Assert.Equal(records[i].Timestamp.Offset, read[i].Record.Timestamp.Offset);
        }
    }

    [Fact]
    public void A_record_keeps_its_own_sequence_across_a_reopen_and_frames_without_one_are_unchanged()
    {
        var plain = Record(1);
        var keyed = Record(2) with { Sequence = 9_000_000_001 };
        long plainBytes;
        using (var outbox = TelemetryOutbox.Open(_dir.Options()))
        {
            outbox.Append(plain);
            plainBytes = outbox.DiskBytes;
            outbox.Append(keyed);
            // The device's key (8 bytes) is stored only for the record that has one.
            Assert.Equal(8, outbox.DiskBytes - plainBytes - (plainBytes - 16));
        }

        using var reopened = TelemetryOutbox.Open(_dir.Options());
        var read = ReadAll(reopened);
        Assert.Equal([1L, 2L], read.Select(r => r.Sequence));
        Assert.Null(read[0].Record.Sequence);
        Assert.Equal(9_000_000_001, read[1].Record.Sequence);
        Assert.Equal(keyed, read[1].Record);
    }

    [Fact]
    public void Reads_return_every_record_in_order_across_segments()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options());
        for (int i = 1; i <= 500; i++) outbox.Append(Record(i));
        var batch = Enumerable.Range(501, 700).Select(i => Record(i)).ToArray();
        Assert.Equal(1200, outbox.AppendBatch(batch));

        var read = ReadAll(outbox, chunk: 37);

        Assert.True(_dir.Segments().Length > 10, "the test needs many segments");
        Assert.Equal(Enumerable.Range(1, 1200).Select(i => (long)i), read.Select(r => r.Sequence));
        Assert.All(read, r => Assert.Equal(Record(r.Sequence), r.Record));
        Assert.Equal(1200, outbox.PendingCount);
    }

    [Fact]
    public void Acknowledge_compacts_fully_acknowledged_segments()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options());
        for (int i = 1; i <= 1000; i++) outbox.Append(Record(i));
        int segmentsBefore = _dir.Segments().Length;
        long bytesBefore = outbox.DiskBytes;

        outbox.Acknowledge(600);

        Assert.True(_dir.Segments().Length < segmentsBefore);
        Assert.True(outbox.DiskBytes < bytesBefore);
        Assert.Equal(400, outbox.PendingCount);
        Assert.Equal(601, ReadAll(outbox)[0].Sequence);

        outbox.Acknowledge(1000);
        Assert.Single(_dir.Segments());
        Assert.Equal(0, outbox.PendingCount);
        Assert.Empty(ReadAll(outbox));
    }

    [Fact]
    public void Restart_resumes_after_the_acknowledged_mark_and_continues_the_sequence()
    {
        using (var outbox = TelemetryOutbox.Open(_dir.Options()))
        {
            for (int i = 1; i <= 300; i++) outbox.Append(Record(i));
            var buffer = new TelemetryRecord[200];
            Assert.Equal(200, outbox.ReadPending(buffer, out _));
            outbox.Acknowledge(150);
        }

        using (var outbox = TelemetryOutbox.Open(_dir.Options()))
        {
            Assert.Equal(150, outbox.AcknowledgedSequence);
            Assert.Equal(300, outbox.LastSequence);
            Assert.Equal(301, outbox.Append(Record(301)));
            var read = ReadAll(outbox);
            Assert.Equal(Enumerable.Range(151, 151).Select(i => (long)i), read.Select(r => r.Sequence));
            Assert.All(read, r => Assert.Equal(Record(r.Sequence), r.Record));
            outbox.Acknowledge(301);
        }

        using (var outbox = TelemetryOutbox.Open(_dir.Options()))
        {
            Assert.Equal(0, outbox.PendingCount);
            Assert.Equal(302, outbox.Append(Record(302)));
        }
    }

    [Fact]
    public void A_torn_tail_is_truncated_on_recovery()
    {
        using (var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: 64 * 1024)))
            for (int i = 1; i <= 10; i++) outbox.Append(Record(i));
        string segment = _dir.Segments().Single();
        long intactLength = new FileInfo(segment).Length;
        var frame = new byte[64];
        int frameLength = OutboxFrame.Write(frame, 11, Record(11));
        using (var stream = new FileStream(segment, FileMode.Append))
            stream.Write(frame, 0, frameLength - 3); // a crash mid-write leaves part of a frame

        AssertTenRecoveredAndTheEleventhWrittenRightAfter(segment, intactLength + frameLength, segmentBytes: 64 * 1024);
    }

    /// <summary>
    /// Reopens an outbox that held records 1-10 and a damaged tail: the ten come back, record 11 is appended, and after
    /// close the file ends at <paramref name="expectedLength"/> (checked after close: while open, the active segment is
    /// mapped at full capacity on Linux), so the damaged bytes were cut rather than skipped.
    /// </summary>
    private void AssertTenRecoveredAndTheEleventhWrittenRightAfter(string segment, long expectedLength, long segmentBytes)
    {
        using (var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: segmentBytes)))
        {
            Assert.Equal(10, outbox.LastSequence);
            Assert.Equal(0, outbox.DroppedRecords);
            Assert.Equal(11, outbox.Append(Record(11)));
            var read = ReadAll(outbox);
            Assert.Equal(Enumerable.Range(1, 11).Select(i => (long)i), read.Select(r => r.Sequence));
            Assert.All(read, r => Assert.Equal(Record(r.Sequence), r.Record));
        }
        Assert.Equal(expectedLength, new FileInfo(segment).Length);
    }

    [Fact]
    public void The_zero_tail_a_killed_mapped_writer_leaves_is_cut_on_recovery()
    {
        const int SegmentBytes = 64 * 1024;
        using (var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: SegmentBytes)))
        {
            for (int i = 1; i <= 10; i++) outbox.Append(Record(i));
            // On Linux the active segment is mapped: the file spans the whole segment while it is open.
            if (OperatingSystem.IsLinux()) Assert.Equal(SegmentBytes, new FileInfo(_dir.Segments().Single()).Length);
        }
        string segment = _dir.Segments().Single();
        long intactLength = new FileInfo(segment).Length;
        int frameLength = OutboxFrame.Write(new byte[64], 11, Record(11));
        // What a kill -9 of the mapped writer leaves on disk: whole frames, then the zero-filled rest of the mapping.
        using (var stream = new FileStream(segment, FileMode.Open)) stream.SetLength(SegmentBytes);

        AssertTenRecoveredAndTheEleventhWrittenRightAfter(segment, intactLength + frameLength, SegmentBytes);
    }

    [Fact]
    public void A_frame_with_a_bad_crc_and_everything_after_it_are_truncated_on_recovery()
    {
        using (var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: 64 * 1024)))
            for (int i = 1; i <= 10; i++) outbox.Append(Record(i));
        string segment = _dir.Segments().Single();
        byte[] bytes = File.ReadAllBytes(segment);
        int frameLength = OutboxFrame.Write(new byte[64], 1, Record(1));
        int eighthFrame = OutboxSegment.HeaderBytes + 7 * frameLength;
        bytes[eighthFrame + OutboxFrame.HeaderBytes + 3] ^= 0x40; // one flipped bit in the payload
        File.WriteAllBytes(segment, bytes);

        using (var reopened = TelemetryOutbox.Open(_dir.Options(segmentBytes: 64 * 1024)))
        {
            Assert.Equal(7, reopened.LastSequence);
            var read = ReadAll(reopened);
            Assert.Equal(Enumerable.Range(1, 7).Select(i => (long)i), read.Select(r => r.Sequence));
            Assert.All(read, r => Assert.Equal(Record(r.Sequence), r.Record));
        }
        // After close (while open, the active segment is mapped at full capacity): the file ends before the bad frame.
        Assert.Equal(eighthFrame, new FileInfo(segment).Length);
    }

    [Fact]
    public void Corruption_in_an_older_segment_keeps_later_segments_and_counts_the_gap_as_dropped()
    {
        long lastOfFirst;
        using (var outbox = TelemetryOutbox.Open(_dir.Options()))
            for (int i = 1; i <= 200; i++) outbox.Append(Record(i));
        string first = _dir.Segments()[0];
        int frameLength = OutboxFrame.Write(new byte[64], 1, Record(1));
        lastOfFirst = (new FileInfo(first).Length - OutboxSegment.HeaderBytes) / frameLength;
        using (var stream = new FileStream(first, FileMode.Open))
            stream.SetLength(stream.Length - 5); // the last frame of the first segment is damaged

        using var reopened = TelemetryOutbox.Open(_dir.Options());

        var read = ReadAll(reopened).Select(r => r.Sequence).ToList();
        Assert.Equal(200, reopened.LastSequence);
        Assert.Equal(1, reopened.DroppedRecords);
        Assert.DoesNotContain(lastOfFirst, read);
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i).Where(s => s != lastOfFirst), read);
    }

    [Fact]
    public void FailFast_throws_when_full_keeps_the_bound_and_accepts_again_after_acknowledgement()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options(maxDiskBytes: 8192));
        long accepted = 0;
        var ex = IoTAssert.Throws(IoTErrorKind.OutboxFull, () =>
        {
            for (int i = 1; i <= 10_000; i++) accepted = outbox.Append(Record(i));
        });

        Assert.Contains("(8192 bytes)", ex.Message, StringComparison.Ordinal);
        Assert.True(accepted > 50);
        Assert.True(outbox.DiskBytes <= 8192);
        Assert.Equal(0, outbox.DroppedRecords);
        IoTAssert.Throws(IoTErrorKind.OutboxFull, () => outbox.AppendBatch([Record(1), Record(2)]));
        Assert.Equal(accepted, outbox.LastSequence);
        Assert.Equal(accepted, ReadAll(outbox).Count);

        outbox.Acknowledge(accepted);
        Assert.Equal(accepted + 1, outbox.Append(Record(accepted + 1)));
    }

    [Fact]
    public void DropOldest_keeps_the_bound_and_counts_what_it_drops()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options(maxDiskBytes: 8192, overflow: BackpressureMode.DropOldest));
        for (int i = 1; i <= 2000; i++)
        {
            outbox.Append(Record(i));
            Assert.True(outbox.DiskBytes <= 8192);
        }

        Assert.True(outbox.DroppedRecords > 0);
        Assert.Equal(2000, outbox.PendingCount + outbox.DroppedRecords);
        var read = ReadAll(outbox);
        Assert.Equal(outbox.AcknowledgedSequence + 1, read[0].Sequence);
        Assert.Equal(Enumerable.Range((int)read[0].Sequence, read.Count).Select(i => (long)i), read.Select(r => r.Sequence));
        Assert.Equal(2000, read[^1].Sequence);
        Assert.All(read, r => Assert.Equal(Record(r.Sequence), r.Record));
    }

    [Fact]
    public void DropOldest_moves_a_reader_that_was_inside_the_dropped_segment()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options(maxDiskBytes: 8192, overflow: BackpressureMode.DropOldest));
        for (int i = 1; i <= 10; i++) outbox.Append(Record(i));
        var buffer = new TelemetryRecord[5];
        Assert.Equal(5, outbox.ReadPending(buffer, out _));
        for (int i = 11; i <= 600; i++) outbox.Append(Record(i));

        var read = ReadAll(outbox);

        Assert.True(read[0].Sequence > 10);
        Assert.Equal(600, read[^1].Sequence);
        Assert.All(read, r => Assert.Equal(Record(r.Sequence), r.Record));
    }

    [Fact]
    public void Rewind_after_a_failed_send_replays_the_same_records()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options());
        for (int i = 1; i <= 100; i++) outbox.Append(Record(i));
        var first = new TelemetryRecord[40];
        var again = new TelemetryRecord[40];

        Assert.Equal(40, outbox.ReadPending(first, out long firstSequence));
        outbox.Rewind(); // the send failed
        Assert.Equal(40, outbox.ReadPending(again, out long againSequence));

        Assert.Equal(firstSequence, againSequence);
        Assert.Equal(first, again);

        outbox.Acknowledge(firstSequence + 19); // half was confirmed before the connection dropped
        outbox.Rewind();
        var replay = ReadAll(outbox);
        Assert.Equal(Enumerable.Range(21, 80).Select(i => (long)i), replay.Select(r => r.Sequence));
    }

    [Fact]
    public async Task A_concurrent_appender_and_reader_see_every_record_once_in_order()
    {
        const int total = 20_000;
        // Room for every record: the producer may run far ahead of the reader, and FailFast would then (rightly) throw.
        using var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: 16 * 1024, maxDiskBytes: 4 * 1024 * 1024));
        var producer = Task.Run(() =>
        {
            for (int i = 1; i <= total; i++) outbox.Append(Record(i));
        });
        var seen = new List<long>(total);
        var buffer = new TelemetryRecord[100];
        var elapsed = System.Diagnostics.Stopwatch.StartNew(); // bounds the wait only; results do not depend on time
        while (seen.Count < total && !producer.IsFaulted && elapsed.Elapsed < TimeSpan.FromSeconds(30))
        {
            int count = outbox.ReadPending(buffer, out long first);
            for (int i = 0; i < count; i++)
            {
                Assert.Equal(Record(first + i), buffer[i]);
                seen.Add(first + i);
            }
            if (count > 0) outbox.Acknowledge(first + count - 1);
            else await Task.Yield();
        }
        await producer.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), seen);
        Assert.Equal(0, outbox.PendingCount);
        Assert.Single(_dir.Segments());
    }

    [Fact]
    public void Acknowledging_ahead_of_the_reader_skips_the_acknowledged_records()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options());
        for (int i = 1; i <= 300; i++) outbox.Append(Record(i));

        outbox.Acknowledge(250);

        Assert.Equal(251, ReadAll(outbox)[0].Sequence);
        Assert.Throws<ArgumentOutOfRangeException>(() => outbox.Acknowledge(301));
    }

    [Theory]
    // Milliseconds of FsyncInterval: null = OS-buffered, 0 = fsync per append, 100 = group commit.
    [InlineData(null, true)]
    [InlineData(100, true)]
    [InlineData(0, true)]
    // The pwrite path (other operating systems, or a file system that refuses the mapping), run here with the mapping off.
    [InlineData(null, false)]
    [InlineData(100, false)]
    [InlineData(0, false)]
    public void Every_fsync_interval_stores_and_recovers_records(int? fsyncMilliseconds, bool mapped)
    {
        var time = new FakeTimeProvider();
        TimeSpan? fsyncInterval = fsyncMilliseconds is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
        using (var outbox = TelemetryOutbox.Open(_dir.Options(fsyncInterval: fsyncInterval) with { MapActiveSegment = mapped }, time))
        {
            for (int i = 1; i <= 150; i++)
            {
                outbox.Append(Record(i));
                if (i % 50 == 0) time.Advance(TimeSpan.FromMilliseconds(100)); // fires the group-commit fsync
            }
        }

        using var reopened = TelemetryOutbox.Open(_dir.Options(fsyncInterval: fsyncInterval), time);
        var read = ReadAll(reopened);
        Assert.Equal(Enumerable.Range(1, 150).Select(i => (long)i), read.Select(r => r.Sequence));
    }

    [Fact]
    public void A_directory_is_opened_by_one_outbox_at_a_time()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options());
        Assert.Throws<IOException>(() => TelemetryOutbox.Open(_dir.Options()));
    }

    [Fact]
    public void Invalid_input_is_rejected_before_anything_is_written()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options());
        Assert.Throws<ArgumentException>(() => outbox.Append(default));
        Assert.Throws<ArgumentException>(() => outbox.AppendBatch([Record(1), default]));
        Assert.Equal(0, outbox.LastSequence);
        Assert.Throws<ArgumentOutOfRangeException>(() => TelemetryOutbox.Open(_dir.Options(segmentBytes: 4096, maxDiskBytes: 4096)));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(86_400_001)] // one day and a millisecond
    public void An_fsync_interval_out_of_range_is_refused_by_name_before_the_directory_is_touched(long milliseconds)
    {
        var options = _dir.Options(fsyncInterval: TimeSpan.FromMilliseconds(milliseconds)) with { Directory = System.IO.Path.Combine(_dir.Path, "never") };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => TelemetryOutbox.Open(options));
        Assert.Equal(nameof(TelemetryOutboxOptions.FsyncInterval), error.ParamName);
        Assert.False(Directory.Exists(options.Directory));
    }

    [Fact]
    public void Wait_overflow_is_refused_by_name_before_the_directory_is_touched()
    {
        var options = _dir.Options(overflow: BackpressureMode.Wait) with { Directory = System.IO.Path.Combine(_dir.Path, "never") };
        var error = Assert.Throws<ArgumentException>(() => TelemetryOutbox.Open(options));
        Assert.Equal(nameof(TelemetryOutboxOptions.Overflow), error.ParamName);
        Assert.Contains("FailFast", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(options.Directory));
    }

    [Fact]
    public void Disposed_outbox_refuses_calls()
    {
        var outbox = TelemetryOutbox.Open(_dir.Options());
        outbox.Dispose();
        Assert.Throws<ObjectDisposedException>(() => outbox.Append(Record(1)));
        outbox.Dispose();
    }
}
