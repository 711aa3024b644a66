using System.Buffers;

namespace IoTMastery.Sdk.TestSupport;

/// <summary>Builds multi-segment <see cref="ReadOnlySequence{T}"/>s, as MQTT and pipe buffers hand payloads over.</summary>
public static class SegmentedSequence
{
    /// <summary><paramref name="payload"/> in segments of <paramref name="segmentSize"/> bytes (the last one shorter).</summary>
    public static ReadOnlySequence<byte> Split(byte[] payload, int segmentSize)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSize, 1);
        Segment? first = null, last = null;
        for (int at = 0; at < payload.Length; at += segmentSize)
        {
            var memory = payload.AsMemory(at, Math.Min(segmentSize, payload.Length - at));
            last = last is null ? first = new Segment(memory, 0) : last.Append(memory);
        }
        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    /// <summary><paramref name="payload"/> in two segments, the first <paramref name="split"/> bytes long.</summary>
    public static ReadOnlySequence<byte> SplitAt(byte[] payload, int split)
    {
        ArgumentNullException.ThrowIfNull(payload);
        var first = new Segment(payload.AsMemory(0, split), 0);
        var last = first.Append(payload.AsMemory(split));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
