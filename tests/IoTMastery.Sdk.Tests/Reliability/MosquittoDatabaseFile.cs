using System.Buffers.Binary;
using System.Text;

namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>
/// Reads what a Mosquitto 2.0 persistence file (<c>mosquitto.db</c>, format version 6) holds: the stored messages of one
/// topic and the subscriptions. The soak test reads it while the broker is down after a SIGKILL, so it sees exactly
/// what the next broker process will load — the broker's own record of what it had persisted, rather than a guess from
/// timestamps.
/// </summary>
/// <remarks>
/// Layout (mosquitto <c>src/persist.h</c>, <c>persist_write_v5.c</c>): 15 magic bytes, a 4-byte CRC (unused, 0), the
/// format version (big-endian uint32), then chunks of a big-endian <c>{uint32 type, uint32 length}</c> header and
/// <c>length</c> bytes. A message-store chunk (type 2) starts with the fixed <c>PF_msg_store</c> (32 bytes: store id,
/// expiry, payload length, source mid, source id length, source user name length, topic length, source port, QoS,
/// retain), followed by the source id, user name, topic, payload and properties. A subscription chunk (type 5) starts
/// with <c>PF_sub</c> (identifier, client id length, topic length, QoS, options: 10 bytes, 12 padded), then the client id and topic.
/// </remarks>
internal sealed class MosquittoDatabaseFile
{
    private const int MessageStoreChunk = 2;
    private const int SubscriptionChunk = 5;
    private const int SupportedVersion = 6;
    private static readonly byte[] Magic = [0x00, 0xB5, 0x00, .. "mosquitto db"u8];

    private MosquittoDatabaseFile(List<ReadOnlyMemory<byte>> payloads, List<(string ClientId, string Topic)> subscriptions)
    {
        Payloads = payloads;
        Subscriptions = subscriptions;
    }

    /// <summary>The payloads of the stored messages on the topic asked for, in file order.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Payloads { get; }

    /// <summary>Every persisted subscription: client id and topic filter.</summary>
    public IReadOnlyList<(string ClientId, string Topic)> Subscriptions { get; }

    /// <summary>Parses <paramref name="path"/>; throws <see cref="InvalidDataException"/> when it is not a complete version-6 file.</summary>
    public static MosquittoDatabaseFile Read(string path, string topic)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int header = Magic.Length + 4 + 4;
        if (bytes.Length < header || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException($"{path} is not a mosquitto persistence file.");
        uint version = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(Magic.Length + 4));
        if (version != SupportedVersion)
            throw new InvalidDataException($"{path} has persistence format {version}; this reader knows format {SupportedVersion} (mosquitto 2.0).");

        var payloads = new List<ReadOnlyMemory<byte>>();
        var subscriptions = new List<(string, string)>();
        byte[] topicBytes = Encoding.UTF8.GetBytes(topic);
        int at = header;
        while (at < bytes.Length)
        {
            if (bytes.Length - at < 8) throw new InvalidDataException($"{path}: truncated chunk header at byte {at}.");
            uint type = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at));
            int length = checked((int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at + 4)));
            at += 8;
            if (bytes.Length - at < length) throw new InvalidDataException($"{path}: chunk of type {type} at byte {at - 8} runs past the end of the file.");
            var chunk = bytes.AsMemory(at, length);
            if (type == MessageStoreChunk) ReadMessage(chunk, topicBytes, payloads, path);
            else if (type == SubscriptionChunk) subscriptions.Add(ReadSubscription(chunk.Span, path));
            at += length;
        }
        return new MosquittoDatabaseFile(payloads, subscriptions);
    }

    private static void ReadMessage(ReadOnlyMemory<byte> chunk, byte[] topic, List<ReadOnlyMemory<byte>> payloads, string path)
    {
        var span = chunk.Span;
        const int Fixed = 32;
        if (span.Length < Fixed) throw new InvalidDataException($"{path}: message-store chunk of {span.Length} bytes.");
        int payloadLength = checked((int)BinaryPrimitives.ReadUInt32BigEndian(span[16..]));
        int sourceIdLength = BinaryPrimitives.ReadUInt16BigEndian(span[22..]);
        int userNameLength = BinaryPrimitives.ReadUInt16BigEndian(span[24..]);
        int topicLength = BinaryPrimitives.ReadUInt16BigEndian(span[26..]);
        int topicAt = Fixed + sourceIdLength + userNameLength;
        int payloadAt = topicAt + topicLength;
        if (payloadAt + payloadLength > span.Length) throw new InvalidDataException($"{path}: message-store chunk shorter than its fields.");
        if (span.Slice(topicAt, topicLength).SequenceEqual(topic)) payloads.Add(chunk.Slice(payloadAt, payloadLength));
    }

    private static (string, string) ReadSubscription(ReadOnlySpan<byte> span, string path)
    {
        if (span.Length < 10) throw new InvalidDataException($"{path}: subscription chunk of {span.Length} bytes.");
        int idLength = BinaryPrimitives.ReadUInt16BigEndian(span[4..]);
        int topicLength = BinaryPrimitives.ReadUInt16BigEndian(span[6..]);
        // PF_sub is written as the C struct: 10 bytes of fields, 12 with the compiler's tail padding.
        int fixedLength = span.Length - idLength - topicLength;
        if (fixedLength is not (10 or 12)) throw new InvalidDataException($"{path}: subscription chunk of {span.Length} bytes does not fit its lengths ({idLength}, {topicLength}).");
        return (Encoding.UTF8.GetString(span.Slice(fixedLength, idLength)), Encoding.UTF8.GetString(span.Slice(fixedLength + idLength, topicLength)));
    }
}
