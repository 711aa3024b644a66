namespace IoTMastery.Sdk.Gcp;

/// <summary>A message to publish: data and/or attributes, and an optional ordering key.</summary>
internal sealed record PubSubMessage
{
    /// <summary>The payload (sent base64-encoded).</summary>
    public ReadOnlyMemory<byte> Data { get; init; }

    /// <summary>String attributes; at most 100, keys ≤ 256 bytes not starting with <c>goog</c>, values ≤ 1024 bytes.</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; init; } = new Dictionary<string, string>();

    /// <summary>Messages with the same key are delivered in order to subscriptions with message ordering; ≤ 1024 bytes.</summary>
    public string? OrderingKey { get; init; }
}

/// <summary>A pulled message with the ack id needed to acknowledge or nack it.</summary>
internal sealed record ReceivedPubSubMessage
{
    /// <summary>The id to pass to acknowledge or modify-ack-deadline.</summary>
    public required string AckId { get; init; }

    /// <summary>The server-assigned message id.</summary>
    public required string MessageId { get; init; }

    /// <summary>The payload.</summary>
    public ReadOnlyMemory<byte> Data { get; init; }

    /// <summary>The attributes.</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; init; } = new Dictionary<string, string>();

    /// <summary>The ordering key, if any.</summary>
    public string? OrderingKey { get; init; }

    /// <summary>When the service accepted the message.</summary>
    public DateTimeOffset? PublishTime { get; init; }

    /// <summary>Delivery attempts so far, when the subscription has a dead-letter policy; otherwise 0.</summary>
    public int DeliveryAttempt { get; init; }
}

/// <summary>Settings of a new subscription.</summary>
internal sealed record PubSubSubscriptionSettings
{
    /// <summary>The ack deadline in seconds, 10 to 600. Default 10.</summary>
    public int AckDeadlineSeconds { get; init; } = 10;

    /// <summary>Deliver messages with the same ordering key in order.</summary>
    public bool EnableMessageOrdering { get; init; }
}

/// <summary>Pub/Sub request limits (Google's published values; the emulator does not enforce them).</summary>
internal static class PubSubLimits
{
    /// <summary>Messages per publish request.</summary>
    public const int MaxMessagesPerRequest = 1000;

    /// <summary>Bytes per publish request (10 MB).</summary>
    public const int MaxRequestBytes = 10_000_000;

    /// <summary>Attributes per message.</summary>
    public const int MaxAttributes = 100;

    /// <summary>Bytes of an attribute key.</summary>
    public const int MaxAttributeKeyBytes = 256;

    /// <summary>Bytes of an attribute value.</summary>
    public const int MaxAttributeValueBytes = 1024;

    /// <summary>Bytes of an ordering key.</summary>
    public const int MaxOrderingKeyBytes = 1024;

    /// <summary>Messages per pull.</summary>
    public const int MaxPullMessages = 1000;
}
