using System.Globalization;
using System.Text.Json;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Reads IoT Hub's device connection-state events from the built-in Event Hubs endpoint (where a message route with source
/// <c>DeviceConnectionStateEvents</c> sends them) into a <see cref="PresenceTable"/>: every partition, from shortly before the
/// first use on (or after its checkpoint), one background reader per provider. An event is recognised by its system property
/// <c>iothub-message-source</c> = <c>deviceConnectionStateEvents</c> and its application property <c>opType</c>
/// (<c>deviceConnected</c>/<c>deviceDisconnected</c>); its body's <c>sequenceNumber</c> orders one device's changes, so a
/// redelivered or out-of-order event is dropped by the table. Anything else on the endpoint (telemetry, other routes) is skipped.
/// </summary>
internal sealed partial class AzureConnectionStateEvents : IAsyncDisposable
{
    /// <summary>
    /// How far before the first use the reader starts: positions are the hub's enqueued times, and the hub's clock is not this
    /// machine's, so a change made just before the first read is not lost to a few seconds of skew (it may be seen instead).
    /// </summary>
    internal static readonly TimeSpan LookBack = TimeSpan.FromSeconds(10);

    private const string SourceProperty = EventDataMapping.SourceProperty;
    private const string ConnectionStateSource = "deviceConnectionStateEvents";

    private readonly AzureEventHubOptions _options;
    private readonly PresenceTable _table;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<AzureEventHubOptions, IPartitionEventSource> _connect;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private Task? _reading;
    private long _skipped;

    public AzureConnectionStateEvents(AzureEventHubOptions options, PresenceTable table, TimeProvider time, ILogger? logger = null,
        Func<AzureEventHubOptions, IPartitionEventSource>? connect = null)
    {
        _options = options;
        _table = table;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _connect = connect ?? AzureTelemetryChannel.ConnectConsumer;
    }

    /// <summary>The table the events are applied to.</summary>
    public PresenceTable Table => _table;

    /// <summary>Events on the endpoint that were not connection-state events (telemetry, other routes) or were malformed.</summary>
    public long SkippedEventCount => Interlocked.Read(ref _skipped);

    /// <summary>Starts the background reader once; later calls do nothing. No network call is made before the first.</summary>
    public void EnsureStarted()
    {
        lock (_gate)
            _reading ??= Task.Run(() => ReadAsync(_time.GetUtcNow() - LookBack, _stop.Token));
    }

    private async Task ReadAsync(DateTimeOffset from, CancellationToken cancellationToken)
    {
        // A checkpoint directory makes a restarted reader resume; without one (null store) it starts a few seconds back.
        var store = _options.CheckpointStore ?? (_options.CheckpointDirectory is null ? null : _options.ResolveCheckpointStore(nameof(AzureIoTOptions.ConnectionStateEvents)));
        // One consumer for the reader's life; the Event Hubs client retries transient faults itself, and a partition whose read
        // still fails is reopened after its last applied event below, so a fault costs a pause, never the stream.
        await using var consumer = _connect(_options);
        string[] partitions;
        while (true)
        {
            try
            {
                partitions = await consumer.GetPartitionIdsAsync(cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.PartitionsUnreadable(_logger, ErrorText.Name(ex));
                await Task.Delay(TimeSpan.FromSeconds(5), _time, cancellationToken).ConfigureAwait(false);
            }
        }
        await Task.WhenAll(partitions.Select(async partition =>
        {
            var checkpoint = store is null ? null : await store.GetAsync(partition, cancellationToken).ConfigureAwait(false);
            await ReadPartitionAsync(consumer, partition, checkpoint, from, store, cancellationToken).ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    private async Task ReadPartitionAsync(IPartitionEventSource consumer, string partition, long? after, DateTimeOffset from,
        ITelemetryCheckpointStore? store, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var position = after is { } n ? EventPosition.FromSequenceNumber(n, isInclusive: false)
                : _options.StartFromEarliest ? EventPosition.Earliest : EventPosition.FromEnqueuedTime(from);
            try
            {
                await foreach (var item in consumer.ReadEventsFromPartitionAsync(partition, position, cancellationToken).ConfigureAwait(false))
                {
                    if (item.Data is not { } data) continue;
                    try
                    {
                        Apply(data);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // One event the reader cannot apply is skipped, never retried: reopening at it would stall the partition.
                        Interlocked.Increment(ref _skipped);
                        Log.EventSkipped(_logger, data.SequenceNumber, partition, ErrorText.Name(ex));
                    }
                    after = data.SequenceNumber;
                    if (store is not null) await store.SetAsync(partition, data.SequenceNumber, cancellationToken).ConfigureAwait(false);
                }
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The message of an Event Hubs fault names the namespace and entity, never the key; the type is enough here.
                Log.PartitionStopped(_logger, partition, ErrorText.Name(ex), after);
                await Task.Delay(TimeSpan.FromSeconds(5), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Applies one event from the endpoint if it is a connection-state event; counts it as skipped otherwise.</summary>
    internal bool Apply(EventData data)
    {
        if (Parse(data) is not { } change)
        {
            Interlocked.Increment(ref _skipped);
            return false;
        }
        _table.Observe(change.DeviceId, change.Connected, change.At, reason: null, sequence: change.Sequence);
        return true;
    }

    /// <summary>A connection-state event's device, direction, time and sequence number; null for any other event.</summary>
    internal static (string DeviceId, bool Connected, DateTimeOffset At, string Sequence)? Parse(EventData data)
    {
        if (!data.SystemProperties.TryGetValue(SourceProperty, out var source) || source as string != ConnectionStateSource) return null;
        // The hub stamps the device id as a system property; the application property is the same id in the documented schema.
        var deviceId = data.SystemProperties.TryGetValue(EventDataMapping.DeviceIdProperty, out var id) ? id as string : null;
        deviceId ??= data.Properties.TryGetValue("deviceId", out var appId) ? appId as string : null;
        bool? connected = (data.Properties.TryGetValue("opType", out var op) ? op as string : null) switch
        {
            "deviceConnected" => true,
            "deviceDisconnected" => false,
            _ => null,
        };
        var sequence = SequenceNumber(data.EventBody.ToMemory().Span);
        if (deviceId is not { Length: > 0 } || connected is null || sequence is null) return null;
        var at = data.Properties.TryGetValue("operationTimestamp", out var stamp) && stamp is string text
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed)
            ? parsed : data.EnqueuedTime;
        return (deviceId, connected.Value, at, sequence);
    }

    // The body is {"sequenceNumber":"<hex digits>"}; anything else is not a connection-state event this reader can order.
    private static string? SequenceNumber(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isSequence = reader.ValueTextEquals("sequenceNumber"u8);
                if (!reader.Read()) return null;
                if (isSequence)
                    return reader.TokenType == JsonTokenType.String && reader.GetString() is { Length: > 0 } s && s.All(char.IsAsciiHexDigit) ? s : null;
                reader.Skip();
            }
            return null;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-8 (found by AzureDeviceFuzzTests); a poison event
            // must be skipped, or its partition would be reopened at it forever.
            return null;
        }
    }

    /// <summary>Stops the background reader and waits for it.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Task? reading;
        lock (_gate) reading = _reading;
        if (reading is not null)
        {
            try { await reading.ConfigureAwait(false); }
            catch (OperationCanceledException) { /* stopped */ }
        }
        _stop.Dispose();
    }
}
