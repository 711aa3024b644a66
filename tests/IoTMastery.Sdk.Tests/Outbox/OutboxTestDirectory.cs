namespace IoTMastery.Sdk.Tests.Outbox;

/// <summary>A fresh temp directory per test, deleted afterwards, plus record and option helpers.</summary>
internal sealed class OutboxTestDirectory : IDisposable
{
    public OutboxTestDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "iotm-outbox-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public TelemetryOutboxOptions Options(
        long segmentBytes = 4096,
        long maxDiskBytes = 1024 * 1024,
        BackpressureMode overflow = BackpressureMode.FailFast,
        TimeSpan? fsyncInterval = null)
        => new()
        {
            Directory = Path,
            SegmentBytes = segmentBytes,
            MaxDiskBytes = maxDiskBytes,
            Overflow = overflow,
            FsyncInterval = fsyncInterval,
        };

    public string[] Segments() => Directory.GetFiles(Path, "*.seg").Order(StringComparer.Ordinal).ToArray();

    /// <summary>Record number <paramref name="i"/>: its value is <paramref name="i"/>, so order and content are checkable.</summary>
    public static TelemetryRecord Record(long i)
        => new($"device-{i % 7}", "temperature", i, DateTimeOffset.UnixEpoch.AddSeconds(i));

    public static List<(long Sequence, TelemetryRecord Record)> ReadAll(TelemetryOutbox outbox, int chunk = 64)
    {
        var result = new List<(long, TelemetryRecord)>();
        var buffer = new TelemetryRecord[chunk];
        while (true)
        {
            int count = outbox.ReadPending(buffer, out long first);
            if (count == 0) return result;
            for (int i = 0; i < count; i++) result.Add((first + i, buffer[i]));
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { } // Best effort: a leaked temp dir must not fail the test.
    }
}
