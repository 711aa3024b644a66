using System.Security.Cryptography;
using System.Text;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Sends each telemetry batch as one device-to-cloud message: IoT Hub has no MQTT batching, so a batch is one message of
/// many records (≤256 KB, metered in 4 KB units including property bytes). <c>$.mid</c> is derived from the payload, so a
/// retried batch carries the same message id and downstream consumers can drop the duplicate.
/// </summary>
internal sealed class AzureTelemetryTransport : ITelemetryTransport
{
    public const int MaxMessageBytes = 256 * 1024;
    public const int BillingUnitBytes = 4 * 1024;
    private const int MessageIdLength = 32;
    private readonly MqttDeviceClient _client;
    private readonly string _deviceId;
    private readonly IReadOnlyList<KeyValuePair<string, string?>> _userProperties;

    public AzureTelemetryTransport(MqttDeviceClient client, string deviceId, IReadOnlyDictionary<string, string>? properties)
    {
        _client = client;
        _deviceId = deviceId;
        _userProperties = (properties ?? new Dictionary<string, string>()).Select(p => new KeyValuePair<string, string?>(p.Key, p.Value)).ToList();
        foreach (var (key, _) in _userProperties)
        {
            if (string.IsNullOrEmpty(key) || key.StartsWith('$') || key.StartsWith("iothub-", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"Telemetry property '{key}' is reserved or empty: names must not start with '$' or 'iothub-'.", nameof(properties));
        }
        // Metered size = body + system property values + user property names and values.
        var overhead = MessageIdLength + "application/json".Length + "utf-8".Length
            + _userProperties.Sum(p => Encoding.UTF8.GetByteCount(p.Key) + Encoding.UTF8.GetByteCount(p.Value ?? ""));
        Limits = new TelemetryTransportLimits
        {
            MaxMessageBytes = MaxMessageBytes - overhead,
            BillingUnitBytes = BillingUnitBytes,
            BillingOverheadBytes = overhead,
        };
    }

    public TelemetryTransportLimits Limits { get; }

    public string Provider => _client.Provider;

    public ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken) =>
        new(_client.PublishAsync(Topic(batch.Payload.Span), batch.Payload, MqttQualityOfService.AtLeastOnce, retain: false, cancellationToken));

    public bool IsTransient(Exception exception) => exception switch
    {
        IoTException iot => iot.IsTransient,
        TimeoutException or IOException => true,
        _ => false,
    };

    internal string Topic(ReadOnlySpan<byte> payload)
    {
        var messageId = Convert.ToHexStringLower(SHA256.HashData(payload).AsSpan(0, MessageIdLength / 2));
        return TopicFor(_deviceId, messageId, _userProperties);
    }

    /// <summary>The telemetry topic with system properties first, as the Node SDK orders them.</summary>
    internal static string TopicFor(string deviceId, string? messageId, IEnumerable<KeyValuePair<string, string?>> userProperties)
    {
        var bag = new List<KeyValuePair<string, string?>>();
        if (messageId is not null) bag.Add(new("$.mid", messageId));
        bag.Add(new("$.ct", "application/json"));
        bag.Add(new("$.ce", "utf-8"));
        bag.AddRange(userProperties);
        return AzureTopics.Events(deviceId) + AzureTopics.EncodeBag(bag);
    }
}
