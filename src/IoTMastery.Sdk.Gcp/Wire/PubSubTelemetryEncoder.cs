using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// Encodes a telemetry batch straight into a Pub/Sub publish request body: one Pub/Sub message per record,
/// <c>data</c> = the record as a one-element <see cref="TelemetryJson"/> array (the same format devices
/// send over the MQTT bridge), attributes <c>deviceId</c> and <c>contentId</c> (a hash of the data, so
/// subscribers drop the duplicates a retried publish can create), and optionally the device id as ordering key.
/// Stateless and thread-safe.
/// </summary>
internal sealed class PubSubTelemetryEncoder : ITelemetryEncoder
{
    public const string DeviceIdAttribute = "deviceId";
    public const string ContentIdAttribute = "contentId";

    private readonly bool _orderByDevice;

    public PubSubTelemetryEncoder(bool orderByDevice) => _orderByDevice = orderByDevice;

    public ReadOnlySpan<byte> BatchPrefix => "{\"messages\":["u8;

    public ReadOnlySpan<byte> RecordSeparator => ","u8;

    public ReadOnlySpan<byte> BatchSuffix => "]}"u8;

    public void WriteRecord(IBufferWriter<byte> output, in TelemetryRecord record)
    {
        var data = new ArrayBufferWriter<byte>(128);
        TelemetryJson.WriteBatch(data, [record]);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data.WrittenSpan, hash);
        using var writer = new Utf8JsonWriter(output);
        writer.WriteStartObject();
        writer.WriteBase64String("data"u8, data.WrittenSpan);
        writer.WriteStartObject("attributes"u8);
        writer.WriteString(DeviceIdAttribute, record.DeviceId);
        writer.WriteString(ContentIdAttribute, Convert.ToHexStringLower(hash[..16]));
        writer.WriteEndObject();
        if (_orderByDevice) writer.WriteString("orderingKey"u8, record.DeviceId);
        writer.WriteEndObject();
    }
}
