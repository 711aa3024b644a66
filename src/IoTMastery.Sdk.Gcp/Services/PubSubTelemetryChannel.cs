using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Gcp;

/// <summary>Settings of a <see cref="PubSubTelemetryChannel"/>.</summary>
internal sealed record PubSubTelemetryChannelOptions
{
    /// <summary>The subscription to pull from. Required.</summary>
    public required string SubscriptionId { get; init; }

    /// <summary>Messages per pull, 1 to 1000. Default 100.</summary>
    public int MaxMessagesPerPull { get; init; } = 100;

    /// <summary>The wait after an empty pull before the next. Default 200 ms.</summary>
    public TimeSpan EmptyPullDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How many recent content ids are remembered to drop duplicates from retried publishes. Default 10,000.</summary>
    public int DeduplicationWindow { get; init; } = 10_000;

    /// <summary>Checks the settings.</summary>
    public void Validate()
    {
        PubSubNames.ValidateResourceId(SubscriptionId, "Subscription", nameof(SubscriptionId));
        if (MaxMessagesPerPull is < 1 or > PubSubLimits.MaxPullMessages)
            throw new ArgumentOutOfRangeException(nameof(MaxMessagesPerPull), MaxMessagesPerPull, "MaxMessagesPerPull must be between 1 and 1000.");
        if (EmptyPullDelay < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(EmptyPullDelay), EmptyPullDelay, "EmptyPullDelay must not be negative.");
        if (DeduplicationWindow < 0)
            throw new ArgumentOutOfRangeException(nameof(DeduplicationWindow), DeduplicationWindow, "DeduplicationWindow must not be negative.");
    }
}

/// <summary>
/// Fleet-side telemetry from a Pub/Sub subscription by pull / acknowledge. A message is acknowledged
/// (one call per pull) only after every record it carries was handed to the consumer (at-least-once); a message whose data
/// is not a telemetry batch is logged and acknowledged so it cannot block the subscription. Duplicates
/// with a recently seen <c>contentId</c> attribute are dropped. Order per device holds when publishers
/// use ordering keys and the subscription has message ordering enabled.
/// </summary>
internal sealed partial class PubSubTelemetryChannel : ITelemetryChannel
{
    private readonly PubSubClient _client;
    private readonly PubSubTelemetryChannelOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates the channel.</summary>
    public PubSubTelemetryChannel(PubSubClient client, PubSubTelemetryChannelOptions options, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _client = client;
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Records from messages that could not be decoded, since creation.</summary>
    public long UndecodableMessages => Interlocked.Read(ref _undecodable);

    private long _undecodable;

    /// <inheritdoc />
    public async IAsyncEnumerable<TelemetryRecord> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var seenOrder = new Queue<string>();
        // Reused for every message: decoding allocates nothing per record once the names are cached.
        var records = new List<TelemetryRecord>();
        while (!cancellationToken.IsCancellationRequested)
        {
            IReadOnlyList<ReceivedPubSubMessage> messages;
            try
            {
                messages = await _client.PullAsync(_options.SubscriptionId, _options.MaxMessagesPerPull, cancellationToken).ConfigureAwait(false);
            }
            catch (IoTException ex) when (ex.ErrorCode == "DEADLINE_EXCEEDED" && !cancellationToken.IsCancellationRequested)
            {
                // A pull waits for messages; on an idle subscription it can outlast the HTTP timeout, which just means "none yet".
                continue;
            }
            if (messages.Count == 0)
            {
                await Task.Delay(_options.EmptyPullDelay, _time, cancellationToken).ConfigureAwait(false);
                continue;
            }
            // Acknowledged in one call per pull: ordered subscriptions hold a key's next messages until the previous ones are acked.
            var consumed = new List<string>(messages.Count);
            try
            {
                foreach (var message in messages)
                {
                    records.Clear();
                    if (message.Attributes.TryGetValue(PubSubTelemetryEncoder.ContentIdAttribute, out var contentId) && _options.DeduplicationWindow > 0)
                    {
                        if (!seen.Add(contentId))
                        {
                            consumed.Add(message.AckId);
                            continue;
                        }
                        seenOrder.Enqueue(contentId);
                        if (seenOrder.Count > _options.DeduplicationWindow) seen.Remove(seenOrder.Dequeue());
                    }
                    try
                    {
                        TelemetryRecord.DecodeBatch(message.Data.Span, records);
                    }
                    catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException or System.Text.Json.JsonException)
                    {
                        Interlocked.Increment(ref _undecodable);
                        Log.UndecodableMessage(_logger, ErrorText.Escape(message.MessageId), ErrorText.Name(ex));
                    }
                    foreach (var record in records)
                        yield return record;
                    // Reached only when the consumer asked for the next record, so every record of the message was taken.
                    consumed.Add(message.AckId);
                }
            }
            finally
            {
                // Also when the consumer stops early: what it took is acknowledged, the rest is redelivered after the deadline.
                if (consumed.Count > 0)
                {
                    using var ackTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await _client.AcknowledgeAsync(_options.SubscriptionId, consumed, ackTimeout.Token).ConfigureAwait(false);
                }
            }
        }
    }
}
