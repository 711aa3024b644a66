using System.Buffers.Binary;
using System.Globalization;
using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;

namespace IoTMastery.Sdk;

/// <summary>
/// One append-only segment file, <c>{baseSequence:D20}.seg</c>: a 16-byte header (<c>"IOTOBX01"</c>, i64 base sequence)
/// and then frames with consecutive sequence numbers starting at the base.
/// </summary>
/// <remarks>
/// The segment being written is memory-mapped on Linux (<see cref="Map"/>): an append is then a copy into the shared
/// page-cache pages, with no system call per record. Those pages belong to the kernel, not to the process, so a record
/// copied in survives a process kill exactly as one written with <c>pwrite</c> does; <c>fsync</c> on the file writes
/// back pages dirtied through the mapping too, and <c>read</c> on the file sees them (one page cache). Elsewhere, and
/// when mapping fails, appends stay <c>pwrite</c>s. While mapped the file is <see cref="MappedCapacity"/> bytes long
/// (sparse past <see cref="Length"/>); <see cref="Unmap"/> truncates it back to the committed length, and recovery
/// truncates the zero tail a killed process left (a zero length prefix is not a valid frame).
/// </remarks>
internal sealed class OutboxSegment
{
    public const int HeaderBytes = 16;
    public const string Extension = ".seg";

    private static ReadOnlySpan<byte> Magic => "IOTOBX01"u8;

    private SafeFileHandle? _handle;
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;

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

    /// <summary>Bytes the mapping covers; 0 when the segment is not mapped.</summary>
    public long MappedCapacity { get; private set; }

    /// <summary>
    /// Maps the file up to <paramref name="capacity"/> bytes for appending (Linux only, see the remarks); stays
    /// unmapped, appending with <c>pwrite</c>, where that is not possible.
    /// </summary>
    public void Map(long capacity)
    {
        if (!OperatingSystem.IsLinux() || _view is not null || capacity <= Length) return;
        try
        {
            _map = MemoryMappedFile.CreateFromFile(Handle, mapName: null, capacity, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
            _view = _map.CreateViewAccessor(0, capacity, MemoryMappedFileAccess.ReadWrite);
            MappedCapacity = capacity;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            // A file system without shared mappings (or no address space left): pwrite works everywhere.
            DisposeMapping();
            RandomAccess.SetLength(Handle, Length);
        }
    }

    /// <summary>Appends committed-to-be bytes at <see cref="Length"/>; the caller moves <see cref="Length"/> once this returned.</summary>
    public void Write(ReadOnlySpan<byte> frames)
    {
        if (_view is not null && Length + frames.Length <= MappedCapacity)
            _view.SafeMemoryMappedViewHandle.WriteSpan((ulong)Length, frames);
        else
            RandomAccess.Write(Handle, frames, Length);
    }

    /// <summary>Drops the mapping and truncates the file to its committed length, so a closed segment holds only whole frames.</summary>
    public void Unmap()
    {
        if (_view is null) return;
        DisposeMapping();
        RandomAccess.SetLength(Handle, Length);
    }

    private void DisposeMapping()
    {
        _view?.Dispose();
        _map?.Dispose();
        _view = null;
        _map = null;
        MappedCapacity = 0;
    }

    public void CloseHandle()
    {
        DisposeMapping();
        _handle?.Dispose();
        _handle = null;
    }

    public void Delete()
    {
        CloseHandle();
        File.Delete(FilePath);
    }
}
