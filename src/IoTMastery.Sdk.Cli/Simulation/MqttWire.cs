using System.Buffers.Binary;
using System.Text;

namespace IoTMastery.Sdk.Cli.Simulation;

/// <summary>
/// The four MQTT 3.1.1 packets a simulated device sends (CONNECT, PUBLISH at QoS 0, PINGREQ, DISCONNECT) and the one it
/// waits for (CONNACK). Written by hand on purpose: a full MQTTnet client per device carries its own receive and keep-alive
/// tasks and buffers, which is what keeps tens of thousands of devices from fitting in one process; here a device is a
/// socket, a stream and a few fields, and one loop sends for all of them.
/// </summary>
internal static class MqttWire
{
    /// <summary>PINGREQ.</summary>
    public static readonly byte[] PingRequest = [0xC0, 0x00];

    /// <summary>DISCONNECT.</summary>
    public static readonly byte[] Disconnect = [0xE0, 0x00];

    /// <summary>CONNECT with a clean session, the client id and the keep-alive in seconds; no user name, password or will.</summary>
    public static byte[] Connect(string clientId, ushort keepAliveSeconds)
    {
        var id = Encoding.UTF8.GetBytes(clientId);
        // Variable header: protocol name "MQTT", level 4 (3.1.1), flags (clean session), keep-alive; payload: the client id.
        var body = new byte[10 + 2 + id.Length];
        body[0] = 0; body[1] = 4; "MQTT"u8.CopyTo(body.AsSpan(2));
        body[6] = 4;
        body[7] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(8), keepAliveSeconds);
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(10), (ushort)id.Length);
        id.CopyTo(body.AsSpan(12));
        return Packet(0x10, body, []);
    }

    /// <summary>PUBLISH at QoS 0 of <paramref name="payload"/> to <paramref name="topic"/> (UTF-8, length-prefixed).</summary>
    public static byte[] Publish(ReadOnlySpan<byte> topic, ReadOnlySpan<byte> payload)
    {
        var head = new byte[2 + topic.Length];
        BinaryPrimitives.WriteUInt16BigEndian(head, (ushort)topic.Length);
        topic.CopyTo(head.AsSpan(2));
        return Packet(0x30, head, payload);
    }

    /// <summary>The return code of a CONNACK (<c>20 02 flags code</c>), or -1 when the four bytes are not a CONNACK.</summary>
    public static int ConnackCode(ReadOnlySpan<byte> packet) =>
        packet.Length == 4 && packet[0] == 0x20 && packet[1] == 0x02 ? packet[3] : -1;

    private static byte[] Packet(byte type, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        var remaining = head.Length + payload.Length;
        Span<byte> length = stackalloc byte[4];
        var n = 0;
        // MQTT's variable-length integer: 7 bits per byte, high bit set while more follow (at most 4 bytes).
        do
        {
            var b = (byte)(remaining % 128);
            remaining /= 128;
            if (remaining > 0) b |= 0x80;
            length[n++] = b;
        }
        while (remaining > 0);
        var packet = new byte[1 + n + head.Length + payload.Length];
        packet[0] = type;
        length[..n].CopyTo(packet.AsSpan(1));
        head.CopyTo(packet.AsSpan(1 + n));
        payload.CopyTo(packet.AsSpan(1 + n + head.Length));
        return packet;
    }
}
