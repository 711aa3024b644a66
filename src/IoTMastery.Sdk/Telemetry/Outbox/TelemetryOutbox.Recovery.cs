namespace IoTMastery.Sdk;

// Recovery on Open: scanning the segments a previous process left, truncating torn tails, rebuilding the state.
internal sealed partial class TelemetryOutbox
{
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
        if (_options.MapActiveSegment) _segments[^1].Map(_options.SegmentBytes);
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
            if (_options.FsyncInterval is not null) RandomAccess.FlushToDisk(handle);
            _reader.Reset();
        }
        segment.Length = offset;
        segment.LastSequence = expected - 1;
    }
}
