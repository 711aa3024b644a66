using System.Text;
using static IoTMastery.Sdk.Tests.Outbox.OutboxTestDirectory;

namespace IoTMastery.Sdk.Tests.Outbox;

/// <summary>
/// ReadPending reads and decodes outside the outbox lock (with a string cache), and Acknowledge writes its checkpoint
/// outside it (issue #18): these prove the records returned are still exactly the ones appended, under hard names and
/// under appends, rewinds, acknowledgements and DropOldest racing the reader.
/// </summary>
public sealed class OutboxUnlockedReadTests : IDisposable
{
    private readonly OutboxTestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Names that stress the cache: multi-byte and surrogate-pair UTF-8, the 64-byte edge, near-twins, empties.</summary>
    private static readonly string[] HardNames =
    [
        "d", "dévice-ü-1", "température", "温度计-7", "sensor-😀-x", "😀", new string('a', 63), new string('a', 64), new string('a', 65),
        new string('é', 32), new string('é', 33), "twin-0001", "twin-0002", "twin-000", "Twin-0001", "\u00A0nbsp", "tab\there",
        "quote\"back\\slash", "new\nline", "\u0000nul", "\uFFFD", new string('z', 1000),
    ];

    [Fact]
    public void Names_from_raw_UTF8_are_what_decoding_returns_for_every_input_and_reused_while_the_cache_has_room()
    {
        // Its own decoder, so other tests' names do not count against the bound this test relies on.
        var names = new TelemetryBatchDecoder();
        var inputs = HardNames.Select(n => Encoding.UTF8.GetBytes(n)).ToList();
        // Invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong form): decoded as GetString does, uncached.
        inputs.Add([0x80]);
        inputs.Add([0x61, 0xE2, 0x82]);
        inputs.Add([0xC0, 0xAF]);
        inputs.Add([]);
        // Far more distinct names than the direct-mapped table's slots, so slots collide.
        for (int i = 0; i < 10_000; i++) inputs.Add(Encoding.UTF8.GetBytes($"device-{i:D5}"));
        var random = new Random(18);
        for (int round = 0; round < 3; round++)
        {
            foreach (var bytes in inputs.OrderBy(_ => random.Next()))
            {
                string expected = Encoding.UTF8.GetString(bytes);
                string first = names.NameFromUtf8(bytes);
                string again = names.NameFromUtf8(bytes);
                Assert.Equal(expected, first);
                Assert.Equal(expected, again);
                bool valid = System.Text.Unicode.Utf8.IsValid(bytes);
                if (valid && bytes.Length <= 256) Assert.Same(first, again);
            }
        }
    }

    [Fact]
    public void Records_with_hard_names_read_back_exactly_also_after_a_rewind()
    {
        using var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: 64 * 1024, maxDiskBytes: 64 * 1024 * 1024));
        var metrics = HardNames.Where(n => n.Length <= TelemetryRecord.MaxMetricLength).ToArray();
        var records = new List<TelemetryRecord>();
        for (int i = 0; i < 3_000; i++)
        {
            string device = i % 3 == 0 ? HardNames[i % HardNames.Length] : $"device-{i % 2_500:D4}";
            string metric = metrics[(i * 7) % metrics.Length];
            var record = new TelemetryRecord(device, metric, i * 0.5 - 700, DateTimeOffset.UnixEpoch.AddSeconds(i).ToOffset(TimeSpan.FromMinutes(i % 5 * 15)));
            records.Add(i % 4 == 0 ? record with { Sequence = long.MaxValue - i } : record);
        }
        foreach (var record in records) outbox.Append(record);

        for (int pass = 0; pass < 2; pass++)
        {
            var read = ReadAll(outbox, chunk: 97);
            Assert.Equal(records.Count, read.Count);
            for (int i = 0; i < records.Count; i++)
            {
                Assert.Equal(i + 1, read[i].Sequence);
                Assert.Equal(records[i], read[i].Record);
                Assert.Equal(records[i].Timestamp.Offset, read[i].Record.Timestamp.Offset);
                Assert.Equal(records[i].Sequence, read[i].Record.Sequence);
            }
            outbox.Rewind();
        }
    }

    [Fact]
    public async Task Appends_racing_reads_rewinds_and_acknowledgements_return_each_record_with_its_own_values()
    {
        const int total = 60_000;
        using var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: 8 * 1024, maxDiskBytes: 64 * 1024 * 1024));
        var producer = Task.Run(() =>
        {
            for (int i = 1; i <= total; i++)
            {
                if (i % 3 == 0) outbox.AppendBatch([Record(i)]);
                else outbox.Append(Record(i));
            }
        });
        var random = new Random(1818);
        var buffer = new TelemetryRecord[700];
        long acknowledged = 0, expectedNext = 1;
        var elapsed = System.Diagnostics.Stopwatch.StartNew(); // bounds the wait only; results do not depend on time
        while (acknowledged < total && !producer.IsFaulted && elapsed.Elapsed < TimeSpan.FromSeconds(60))
        {
            int count = outbox.ReadPending(buffer.AsSpan(0, random.Next(1, buffer.Length)), out long first);
            if (count == 0)
            {
                Assert.Equal(expectedNext, first);
                await Task.Yield();
                continue;
            }
            Assert.Equal(expectedNext, first);
            for (int i = 0; i < count; i++) Assert.Equal(Record(first + i), buffer[i]);
            expectedNext = first + count;
            switch (random.Next(4))
            {
                case 0:
                    // A failed send: everything unacknowledged is read again.
                    outbox.Rewind();
                    expectedNext = acknowledged + 1;
                    break;
                case 1:
                    // Half confirmed, then the connection dropped.
                    acknowledged = first + count / 2 - 1 > acknowledged ? first + count / 2 - 1 : acknowledged;
                    if (acknowledged > 0) outbox.Acknowledge(acknowledged);
                    outbox.Rewind();
                    expectedNext = acknowledged + 1;
                    break;
                default:
                    acknowledged = first + count - 1;
                    outbox.Acknowledge(acknowledged);
                    break;
            }
        }
        await producer.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(total, acknowledged);
        Assert.Equal(0, outbox.PendingCount);
        Assert.Equal(total, outbox.AcknowledgedSequence);
    }

    [Fact]
    public async Task DropOldest_racing_the_reader_never_returns_a_record_under_another_sequence()
    {
        const int total = 40_000;
        using var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: 4096, maxDiskBytes: 16 * 1024, overflow: BackpressureMode.DropOldest));
        var producer = Task.Run(() =>
        {
            for (int i = 1; i <= total; i++) outbox.Append(Record(i));
        });
        var buffer = new TelemetryRecord[300];
        long last = 0, returned = 0;
        var elapsed = System.Diagnostics.Stopwatch.StartNew(); // bounds the wait only; results do not depend on time
        while (last < total && !producer.IsFaulted && elapsed.Elapsed < TimeSpan.FromSeconds(60))
        {
            int count = outbox.ReadPending(buffer, out long first);
            if (count == 0)
            {
                await Task.Yield();
                continue;
            }
            // Dropped records are skipped, never reordered or relabelled.
            Assert.True(first > last, $"read {first} after {last}");
            for (int i = 0; i < count; i++) Assert.Equal(Record(first + i), buffer[i]);
            last = first + count - 1;
            returned += count;
            if (returned % 3 == 0) outbox.Acknowledge(last);
        }
        await producer.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(total, last);
        Assert.True(outbox.DroppedRecords > 0, "the bound was never hit, so nothing raced a drop");
    }

    [Fact]
    public async Task Acknowledgements_racing_appends_are_kept_across_a_reopen()
    {
        const int total = 20_000;
        long acknowledged = 0;
        using (var outbox = TelemetryOutbox.Open(_dir.Options(segmentBytes: 8 * 1024, maxDiskBytes: 64 * 1024 * 1024)))
        {
            var producer = Task.Run(() =>
            {
                for (int i = 1; i <= total; i++) outbox.Append(Record(i));
            });
            var buffer = new TelemetryRecord[128];
            var elapsed = System.Diagnostics.Stopwatch.StartNew(); // bounds the wait only; results do not depend on time
            while (acknowledged < total / 2 && !producer.IsFaulted && elapsed.Elapsed < TimeSpan.FromSeconds(60))
            {
                int count = outbox.ReadPending(buffer, out long first);
                if (count == 0)
                {
                    await Task.Yield();
                    continue;
                }
                acknowledged = first + count - 1;
                outbox.Acknowledge(acknowledged);
            }
            await producer.WaitAsync(TimeSpan.FromSeconds(60));
        }

        using var reopened = TelemetryOutbox.Open(_dir.Options(segmentBytes: 8 * 1024, maxDiskBytes: 64 * 1024 * 1024));
        Assert.Equal(acknowledged, reopened.AcknowledgedSequence);
        var rest = ReadAll(reopened);
        Assert.Equal(Enumerable.Range((int)acknowledged + 1, total - (int)acknowledged).Select(i => (long)i), rest.Select(r => r.Sequence));
        Assert.All(rest, r => Assert.Equal(Record(r.Sequence), r.Record));
    }
}
