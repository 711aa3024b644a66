using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Azure.Messaging.EventHubs.Consumer;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Reads telemetry from the hub's built-in Event Hubs-compatible endpoint with <see cref="EventHubConsumerClient"/>,
/// one reader per partition, resuming each partition after its stored checkpoint. A checkpoint is written once the
/// caller has taken every record of an event and asks for the next one (at-least-once delivery).
/// </summary>
internal sealed class AzureTelemetryChannel : ITelemetryChannel
{
    private readonly AzureEventHubOptions? _options;
    private readonly ILogger _logger;
    private readonly Func<AzureEventHubOptions, IPartitionEventSource> _connect;

    public AzureTelemetryChannel(AzureEventHubOptions? options, ILogger? logger = null)
        : this(options, logger, ConnectConsumer)
    {
    }

    /// <summary>With another event source: the tests feed events built with EventHubsModelFactory through it.</summary>
    internal AzureTelemetryChannel(AzureEventHubOptions? options, ILogger? logger, Func<AzureEventHubOptions, IPartitionEventSource> connect)
    {
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _connect = connect;
    }

    public IAsyncEnumerable<TelemetryRecord> ReadAllAsync(CancellationToken cancellationToken = default) => ReadAllAsync(null, cancellationToken);

    /// <summary>
    /// Live once every partition's reader has a concrete start: a partition that would start at "new events only" starts
    /// after its last enqueued sequence number, read from the hub before this returns, so an event a device sends after
    /// this returns is read (a plain <c>Latest</c> is only fixed when the receive link opens, later and unobserved).
    /// </summary>
    public Task<TelemetrySubscription> SubscribeAsync(CancellationToken cancellationToken = default)
    {
        var live = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return TelemetrySubscription.StartAsync(ct => ReadAllAsync(live, ct), live.Task, cancellationToken);
    }

    private async IAsyncEnumerable<TelemetryRecord> ReadAllAsync(TaskCompletionSource? live, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var options = _options ?? throw new NotSupportedException(
            "Telemetry consumption needs AzureIoTOptions.EventHub: the built-in endpoint's Event Hubs connection string (see the README).");
        var store = options.CheckpointStore ?? new InMemoryTelemetryCheckpointStore();
        await using var consumer = _connect(options);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var events = Channel.CreateBounded<PartitionEvent>(new BoundedChannelOptions(256) { SingleReader = true });
        var partitions = await consumer.GetPartitionIdsAsync(cancellationToken).ConfigureAwait(false);
        var positions = new EventPosition[partitions.Length];
        for (var i = 0; i < partitions.Length; i++)
        {
            positions[i] = StartPosition(await store.GetAsync(partitions[i], cancellationToken).ConfigureAwait(false), options.StartFromEarliest);
            if (live is not null && positions[i].Equals(EventPosition.Latest))
                positions[i] = await consumer.GetLastEnqueuedSequenceNumberAsync(partitions[i], cancellationToken).ConfigureAwait(false) is { } last
                    ? EventPosition.FromSequenceNumber(last, isInclusive: false)
                    // An empty partition: everything it will hold arrives after now.
                    : EventPosition.Earliest;
        }
        live?.TrySetResult();
        var readers = partitions.Select((p, i) => ReadPartitionAsync(consumer, p, positions[i], events.Writer, stop.Token)).ToArray();
        _ = Task.WhenAll(readers).ContinueWith(t => events.Writer.TryComplete(t.Exception?.GetBaseException()), TaskScheduler.Default);
        try
        {
            // Reused for every event: decoding allocates nothing per record once the names are cached.
            var records = new List<TelemetryRecord>();
            await foreach (var item in events.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                records.Clear();
                EventDataMapping.ToRecords(item.Data, records, out var problem);
                // Skipped, not thrown: one foreign or malformed event must not stop the partition behind it forever.
                if (problem is not null)
                    _logger.LogWarning("Skipped event {Sequence} of partition {Partition}: {Problem}.", item.Data.SequenceNumber, item.Partition.PartitionId, problem);
                foreach (var record in records)
                    yield return record;
                await store.SetAsync(item.Partition.PartitionId, item.Data.SequenceNumber, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Where a partition starts: after its checkpoint, else at the oldest retained event or at new events only.</summary>
    internal static EventPosition StartPosition(long? checkpoint, bool earliest) =>
        checkpoint is { } n ? EventPosition.FromSequenceNumber(n, isInclusive: false) : earliest ? EventPosition.Earliest : EventPosition.Latest;

    private static async Task ReadPartitionAsync(IPartitionEventSource consumer, string partitionId, EventPosition position,
        ChannelWriter<PartitionEvent> writer, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var item in consumer.ReadEventsFromPartitionAsync(partitionId, position, cancellationToken).ConfigureAwait(false))
            {
                if (item.Data is null) continue;
                await writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>The production source for a reader of the built-in endpoint (telemetry here, connection-state events in presence).</summary>
    internal static IPartitionEventSource ConnectConsumer(AzureEventHubOptions options) =>
        new ConsumerClientSource(new EventHubConsumerClient(options.ConsumerGroup, options.ConnectionString));

    /// <summary>The production source: the Event Hubs consumer client itself.</summary>
    private sealed class ConsumerClientSource(EventHubConsumerClient client) : IPartitionEventSource
    {
        public Task<string[]> GetPartitionIdsAsync(CancellationToken cancellationToken) => client.GetPartitionIdsAsync(cancellationToken);

        public async Task<long?> GetLastEnqueuedSequenceNumberAsync(string partitionId, CancellationToken cancellationToken)
        {
            var properties = await client.GetPartitionPropertiesAsync(partitionId, cancellationToken).ConfigureAwait(false);
            return properties.IsEmpty ? null : properties.LastEnqueuedSequenceNumber;
        }

        public IAsyncEnumerable<PartitionEvent> ReadEventsFromPartitionAsync(string partitionId, EventPosition startingPosition, CancellationToken cancellationToken) =>
            client.ReadEventsFromPartitionAsync(partitionId, startingPosition, cancellationToken);

        public ValueTask DisposeAsync() => client.DisposeAsync();
    }
}

/// <summary>
/// The calls the telemetry reader makes on Event Hubs. A seam, so the mapping, start positions and checkpoints can be
/// proven with events built by the official EventHubsModelFactory (there is no Event Hubs peer offline).
/// </summary>
internal interface IPartitionEventSource : IAsyncDisposable
{
    Task<string[]> GetPartitionIdsAsync(CancellationToken cancellationToken);

    /// <summary>The partition's last enqueued sequence number; <see langword="null"/> when it holds no event.</summary>
    Task<long?> GetLastEnqueuedSequenceNumberAsync(string partitionId, CancellationToken cancellationToken);

    IAsyncEnumerable<PartitionEvent> ReadEventsFromPartitionAsync(string partitionId, EventPosition startingPosition, CancellationToken cancellationToken);
}

/// <summary>Where to read device telemetry: the hub's built-in Event Hubs-compatible endpoint.</summary>
public sealed record AzureEventHubOptions
{
    /// <summary>
    /// <c>Endpoint=sb://…servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=…;EntityPath=…</c>
    /// (portal: Built-in endpoints; or <c>az iot hub connection-string show --default-eventhub</c>). Secret. Required.
    /// </summary>
    public required string ConnectionString { get; init; }

    /// <summary>The consumer group; use one per reader. Default <c>$Default</c>.</summary>
    public string ConsumerGroup { get; init; } = EventHubConsumerClient.DefaultConsumerGroupName;

    /// <summary>Where positions are kept; in memory when <see langword="null"/>. Use <see cref="FileTelemetryCheckpointStore"/> to resume after a restart.</summary>
    public ITelemetryCheckpointStore? CheckpointStore { get; init; }

    /// <summary>Without a checkpoint, start at the oldest retained event (true) or at new events only (false, the default).</summary>
    public bool StartFromEarliest { get; init; }

    /// <summary>Describes the options without the connection string.</summary>
    public override string ToString() => $"AzureEventHubOptions {{ ConsumerGroup = {ConsumerGroup}, connection string redacted }}";
}
