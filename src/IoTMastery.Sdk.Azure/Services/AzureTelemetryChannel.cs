using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Reads telemetry from the hub's built-in Event Hubs-compatible endpoint with <see cref="EventHubConsumerClient"/>,
/// one reader per partition, resuming each partition after its stored checkpoint. A checkpoint is written once the
/// caller has taken every record of an event and asks for the next one (at-least-once delivery).
/// </summary>
internal sealed partial class AzureTelemetryChannel : ITelemetryChannel
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
        var store = options.ResolveCheckpointStore(nameof(AzureIoTOptions.EventHub));
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
                    Log.EventSkipped(_logger, item.Data.SequenceNumber, item.Partition.PartitionId, problem);
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
/// proven with events built by the official EventHubsModelFactory as well as against the IoT Hub double's AMQP endpoint.
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

    /// <summary>
    /// The directory where the reader keeps each partition's position, so a restarted reader resumes after the last event it
    /// delivered: one small JSON file per Event Hubs namespace, hub and consumer group
    /// (<c>checkpoints-{namespace}-{hub}-{consumer group}.json</c>, written atomically), created on the first checkpoint.
    /// <see langword="null"/> (the default) keeps positions in memory: a new process starts from <see cref="StartFromEarliest"/>.
    /// </summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>A store set directly, ahead of <see cref="CheckpointDirectory"/>: the tests share one between readers.</summary>
    internal ITelemetryCheckpointStore? CheckpointStore { get; init; }

    /// <summary>Without a checkpoint, start at the oldest retained event (true) or at new events only (false, the default).</summary>
    public bool StartFromEarliest { get; init; }

    /// <summary>
    /// Checks the connection string and consumer group are given, the checkpoint directory and, with one, that the
    /// connection string names a hub; the message never holds the key.
    /// </summary>
    /// <param name="section">The options member these settings are under (<c>EventHub</c>, <c>ConnectionStateEvents</c>): every
    /// error's parameter name is <c>{section}.{setting}</c>, so it says which of the two endpoints is wrong.</param>
    internal void Validate(string section)
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
            throw new ArgumentException($"{section}.ConnectionString is required.", $"{section}.ConnectionString");
        if (string.IsNullOrWhiteSpace(ConsumerGroup))
            throw new ArgumentException($"{section}.ConsumerGroup must not be empty (default $Default).", $"{section}.ConsumerGroup");
        if (CheckpointDirectory is not null)
        {
            if (CheckpointDirectory.Trim().Length == 0)
                throw new ArgumentException($"{section}.CheckpointDirectory must be a directory path; leave it null to keep positions in memory.", $"{section}.CheckpointDirectory");
            _ = CheckpointFileName(section);
        }
    }

    /// <summary>The checkpoint file for this namespace, hub and consumer group, so another hub or group never resumes from these positions.</summary>
    /// <param name="section">Prefixes an error's parameter name, as in <see cref="Validate"/>.</param>
    internal string CheckpointFileName(string section)
    {
        EventHubsConnectionStringProperties properties;
        try
        {
            properties = EventHubsConnectionStringProperties.Parse(ConnectionString);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            // The parser's message may quote the string, key included: name only the field.
            throw new ArgumentException($"{section}.ConnectionString is not an Event Hubs connection string (Endpoint=sb://…;EntityPath=…).", $"{section}.ConnectionString");
        }
        if (string.IsNullOrEmpty(properties.EventHubName))
            throw new ArgumentException($"{section}.ConnectionString needs EntityPath (the hub name) to name its checkpoint file.", $"{section}.ConnectionString");
        static string Safe(string s) => string.Concat(s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_'));
        return $"checkpoints-{Safe(properties.FullyQualifiedNamespace)}-{Safe(properties.EventHubName)}-{Safe(ConsumerGroup)}.json";
    }

    /// <summary>The store the options choose: <see cref="CheckpointStore"/>, a file in <see cref="CheckpointDirectory"/>, or memory.</summary>
    /// <param name="section">As in <see cref="Validate"/>; the options were validated, so it only names a file.</param>
    internal ITelemetryCheckpointStore ResolveCheckpointStore(string section) =>
        CheckpointStore ?? (CheckpointDirectory is { } directory
            ? new FileTelemetryCheckpointStore(Path.Combine(directory, CheckpointFileName(section)))
            : new InMemoryTelemetryCheckpointStore());

    /// <summary>Describes the options without the connection string.</summary>
    public override string ToString() => $"AzureEventHubOptions {{ ConsumerGroup = {ConsumerGroup}, CheckpointDirectory = {CheckpointDirectory}, connection string redacted }}";
}
