using Microsoft.Win32.SafeHandles;

namespace IoTMastery.Sdk;

/// <summary>What <see cref="OutboxFrameReader.TryRead"/> found at an offset.</summary>
internal enum OutboxFrameStatus
{
    Ok,
    End,
    Torn,
    Corrupt,
}

/// <summary>Reads frames from segment files through one reusable window, so reading allocates only the decoded strings.</summary>
internal sealed class OutboxFrameReader
{
    private byte[] _buffer = new byte[64 * 1024];
    private SafeFileHandle? _handle;
    private long _bufferStart;
    private int _bufferCount;

    /// <summary>Forgets the cached window; needed after a file was truncated below what the window holds.</summary>
    public void Reset() => _handle = null;

    /// <summary>Reads the frame at <paramref name="offset"/>, looking no further than <paramref name="limit"/>.</summary>
    public OutboxFrameStatus TryRead(SafeFileHandle handle, long offset, long limit, out ReadOnlySpan<byte> frame)
    {
        frame = default;
        if (offset >= limit) return OutboxFrameStatus.End;
        if (limit - offset < OutboxFrame.OverheadBytes || !Ensure(handle, offset, OutboxFrame.HeaderBytes, limit))
            return OutboxFrameStatus.Torn;
        int length = OutboxFrame.FrameLength(Window(offset, OutboxFrame.HeaderBytes));
        if (length < 0) return OutboxFrameStatus.Corrupt;
        if (length > limit - offset || !Ensure(handle, offset, length, limit)) return OutboxFrameStatus.Torn;
        frame = Window(offset, length);
        return OutboxFrame.IsIntact(frame) ? OutboxFrameStatus.Ok : OutboxFrameStatus.Corrupt;
    }

    private ReadOnlySpan<byte> Window(long offset, int count) => _buffer.AsSpan((int)(offset - _bufferStart), count);

    private bool Ensure(SafeFileHandle handle, long offset, int count, long limit)
    {
        if (ReferenceEquals(handle, _handle) && offset >= _bufferStart && offset + count <= _bufferStart + _bufferCount)
            return true;
        if (count > _buffer.Length) _buffer = new byte[Math.Max(count, _buffer.Length * 2)];
        int wanted = (int)Math.Min(_buffer.Length, limit - offset);
        int total = 0;
        while (total < wanted)
        {
            int read = RandomAccess.Read(handle, _buffer.AsSpan(total, wanted - total), offset + total);
            if (read == 0) break;
            total += read;
        }
        _handle = handle;
        _bufferStart = offset;
        _bufferCount = total;
        return total >= count;
    }
}
