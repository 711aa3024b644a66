using System.Buffers.Binary;
using System.IO.Hashing;

namespace IoTMastery.Sdk;

/// <summary>
/// The acknowledged-up-to mark, <c>ack.chk</c>: <c>"IOTOACK1"</c>, i64 sequence, u32 CRC-32 of the first 16 bytes.
/// Replaced atomically by write-temp + rename, so a crash leaves either the old or the new mark.
/// </summary>
internal static class OutboxCheckpoint
{
    public const string FileName = "ack.chk";
    public const string TempExtension = ".tmp";
    private const int Bytes = 20;

    private static ReadOnlySpan<byte> Magic => "IOTOACK1"u8;

    /// <summary>The persisted mark; 0 when there is none or it is unreadable, which only causes redelivery.</summary>
    public static long Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return 0;
        Span<byte> data = stackalloc byte[Bytes];
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (RandomAccess.GetLength(handle) != Bytes || RandomAccess.Read(handle, data, 0) != Bytes) return 0;
        if (!data[..8].SequenceEqual(Magic) || BinaryPrimitives.ReadUInt32LittleEndian(data[16..]) != Crc32.HashToUInt32(data[..16]))
            return 0;
        return Math.Max(0, BinaryPrimitives.ReadInt64LittleEndian(data[8..]));
    }

    public static void Write(string directory, long acknowledged, bool fsync)
    {
        Span<byte> data = stackalloc byte[Bytes];
        Magic.CopyTo(data);
        BinaryPrimitives.WriteInt64LittleEndian(data[8..], acknowledged);
        BinaryPrimitives.WriteUInt32LittleEndian(data[16..], Crc32.HashToUInt32(data[..16]));
        string path = Path.Combine(directory, FileName);
        string temp = path + TempExtension;
        using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            RandomAccess.Write(handle, data, 0);
            if (fsync) RandomAccess.FlushToDisk(handle);
        }
        File.Move(temp, path, overwrite: true);
    }
}
