using System.Buffers.Binary;
using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace IoTMastery.Sdk;

/// <summary>
/// One append-only segment file, <c>{baseSequence:D20}.seg</c>: a 16-byte header (<c>"IOTOBX01"</c>, i64 base sequence)
/// and then frames with consecutive sequence numbers starting at the base.
/// </summary>
internal sealed class OutboxSegment
{
    public const int HeaderBytes = 16;
    public const string Extension = ".seg";

    private static ReadOnlySpan<byte> Magic => "IOTOBX01"u8;

    private SafeFileHandle? _handle;

    private OutboxSegment(string path, long baseSequence)
    {
        FilePath = path;
        BaseSequence = baseSequence;
        LastSequence = baseSequence - 1;
        Length = HeaderBytes;
    }

    public string FilePath { get; }

    /// <summary>The sequence number of the first frame this segment holds or will hold.</summary>
    public long BaseSequence { get; }

    /// <summary>The sequence number of the last committed frame; <c>BaseSequence - 1</c> when empty.</summary>
    public long LastSequence { get; set; }

    /// <summary>Committed bytes, header included: every byte below this is a whole, intact frame.</summary>
    public long Length { get; set; }

    /// <summary>The open handle; reopened on demand after <see cref="CloseHandle"/>.</summary>
    public SafeFileHandle Handle => _handle ??= File.OpenHandle(FilePath, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);

    public static string FileName(long baseSequence) => baseSequence.ToString("D20", CultureInfo.InvariantCulture) + Extension;

    public static bool TryParseFileName(string path, out long baseSequence)
        => long.TryParse(Path.GetFileNameWithoutExtension(path), NumberStyles.None, CultureInfo.InvariantCulture, out baseSequence)
           && Path.GetFileName(path).Length == 20 + Extension.Length;

    public static OutboxSegment Create(string directory, long baseSequence)
    {
        var segment = new OutboxSegment(Path.Combine(directory, FileName(baseSequence)), baseSequence);
        segment._handle = File.OpenHandle(segment.FilePath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        Span<byte> header = stackalloc byte[HeaderBytes];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], baseSequence);
        RandomAccess.Write(segment._handle, header, 0);
        return segment;
    }

    /// <summary>Opens an existing segment for recovery; null when its header is missing or does not match its name.</summary>
    public static OutboxSegment? TryOpen(string path, long baseSequence)
    {
        var segment = new OutboxSegment(path, baseSequence);
        Span<byte> header = stackalloc byte[HeaderBytes];
        int read = RandomAccess.Read(segment.Handle, header, 0);
        if (read == HeaderBytes && header[..8].SequenceEqual(Magic) && BinaryPrimitives.ReadInt64LittleEndian(header[8..]) == baseSequence)
            return segment;
        segment.CloseHandle();
        return null;
    }

    public void CloseHandle()
    {
        _handle?.Dispose();
        _handle = null;
    }

    public void Delete()
    {
        CloseHandle();
        File.Delete(FilePath);
    }
}
