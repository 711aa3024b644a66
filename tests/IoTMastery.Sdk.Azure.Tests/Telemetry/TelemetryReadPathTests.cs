using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Azure.Tests.Telemetry;

/// <summary>
/// The SDK's own part of the Event Hubs read path: partitions, start positions, mapping and checkpoints, fed with events
/// and partition contexts built by the official <see cref="EventHubsModelFactory"/>, so each case is exact; the AMQP client
/// itself is exercised against the IoT Hub double's endpoint in AzureTelemetryEndToEndTests.
/// </summary>
public sealed class TelemetryReadPathTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static EventData Event(long sequence, string body, string? deviceId = "dev1") =>
        EventHubsModelFactory.EventData(new BinaryData(Encoding.UTF8.GetBytes(body)),
            properties: new Dictionary<string, object> { ["alert"] = "hi" },
            systemProperties: deviceId is null ? new Dictionary<string, object>() : new Dictionary<string, object>
            {
                ["iothub-connection-device-id"] = deviceId,
                ["iothub-enqueuedtime"] = DateTime.UnixEpoch.AddSeconds(1700000000),
                ["content-type"] = "application/json",
            },
            sequenceNumber: sequence, offsetString: (sequence * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
            enqueuedTime: DateTimeOffset.FromUnixTimeSeconds(1700000000 + sequence));

    private static string Batch(string metric, double value) => $$"""[{"d":"someone-else","m":"{{metric}}","v":{{value}},"t":1700000000000}]""";

    private static async Task<List<TelemetryRecord>> TakeAsync(ITelemetryChannel channel, int count)
    {
        using var bound = new CancellationTokenSource(Bound);
        var taken = new List<TelemetryRecord>();
        await foreach (var record in channel.ReadAllAsync(bound.Token))
        {
            taken.Add(record);
            if (taken.Count == count) break;
        }
        return taken;
    }

    [Fact]
    public async Task Records_from_every_partition_carry_the_hub_stamped_device_id_and_each_partition_is_checkpointed()
    {
        var source = new RecordedPartitions(new()
        {
            ["0"] = [Event(10, Batch("temp", 1), "dev-a"), Event(11, Batch("temp", 2), "dev-a")],
            ["1"] = [Event(5, Batch("hum", 40), "dev-b")],
        });
        var store = new InMemoryTelemetryCheckpointStore();
        var channel = new AzureTelemetryChannel(new AzureEventHubOptions { ConnectionString = "unused", CheckpointStore = store, StartFromEarliest = true }, null, _ => source);
        using var bound = new CancellationTokenSource(Bound);
        var reader = channel.ReadAllAsync(bound.Token).GetAsyncEnumerator(bound.Token);
        var records = new List<TelemetryRecord>();
        while (records.Count < 3 && await reader.MoveNextAsync()) records.Add(reader.Current);
        // The body names "someone-else"; the id is the one the hub stamped on the event.
        Assert.Equal(["dev-a/temp/1", "dev-a/temp/2", "dev-b/hum/40"], records.Select(r => $"{r.DeviceId}/{r.Metric}/{r.Value}").Order(StringComparer.Ordinal));
        Assert.Equal(["0", "1"], source.Requested.Keys.Order(StringComparer.Ordinal));
        Assert.All(source.Requested.Values, p => Assert.Equal(EventPosition.Earliest, p));
        // Asking for the next record acknowledges the last one taken: then every event of both partitions is checkpointed.
        var next = reader.MoveNextAsync();
        while (await store.GetAsync("0") != 11 || await store.GetAsync("1") != 5)
            await Task.Delay(20, bound.Token);
        await bound.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await next);
        await reader.DisposeAsync();
    }

    [Fact]
    public async Task SubscribeAsync_fixes_each_partition_start_before_returning_so_the_next_event_is_read_and_older_ones_are_not()
    {
        var source = new RecordedPartitions(new()
        {
            ["0"] = [Event(10, Batch("old", 1), "dev-a"), Event(11, Batch("old", 2), "dev-a")],
            ["1"] = [],
        });
        // No checkpoint and not from the earliest: "new events only", which a plain Latest fixes only when the link opens.
        var channel = new AzureTelemetryChannel(new AzureEventHubOptions { ConnectionString = "unused" }, null, _ => source);
        await using var subscription = await channel.SubscribeAsync().WaitAsync(Bound);
        source.Append("0", Event(12, Batch("new", 3), "dev-a"));
        source.Append("1", Event(0, Batch("new", 4), "dev-b"));

        using var bound = new CancellationTokenSource(Bound);
        var taken = new List<TelemetryRecord>();
        await foreach (var record in subscription.ReadAllAsync(bound.Token))
        {
            taken.Add(record);
            if (taken.Count == 2) break;
        }
        Assert.Equal(["dev-a/new/3", "dev-b/new/4"], taken.Select(r => $"{r.DeviceId}/{r.Metric}/{r.Value}").Order(StringComparer.Ordinal));
        // Concrete positions read from the hub before SubscribeAsync returned: after the last event, or the start of an empty partition.
        Assert.Equal(EventPosition.FromSequenceNumber(11, isInclusive: false), source.Requested["0"]);
        Assert.Equal(EventPosition.Earliest, source.Requested["1"]);
    }

    [Fact]
    public async Task SubscribeAsync_without_an_event_hub_fails_at_once_with_NotSupportedException()
    {
        var channel = new AzureTelemetryChannel(null, null, _ => throw new InvalidOperationException("not reached"));
        await Assert.ThrowsAsync<NotSupportedException>(() => channel.SubscribeAsync().WaitAsync(Bound));
    }

    // The shape of the built-in endpoint's connection string; the key is a placeholder, no Event Hubs is contacted.
    private const string EventHubConnectionString = "Endpoint=sb://ihsuprod-ns.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=c2VjcmV0LWtleQ==;EntityPath=myhub";

    [Fact]
    public async Task A_restarted_reader_resumes_after_the_file_checkpoint_of_each_partition_in_the_checkpoint_directory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "azure-read-" + Guid.NewGuid().ToString("N"));
        try
        {
            var partitions = new Dictionary<string, List<EventData>>
            {
                ["0"] = [Event(1, Batch("a", 1)), Event(2, Batch("b", 2)), Event(3, Batch("c", 3))],
                ["1"] = [],
            };
            var first = new RecordedPartitions(partitions);
            var options = new AzureEventHubOptions { ConnectionString = EventHubConnectionString, CheckpointDirectory = dir, StartFromEarliest = true };
            // Take a and b, then ask for one more: event 2 is checkpointed, event 3 is delivered but not yet acknowledged.
            Assert.Equal(["a", "b", "c"], (await TakeAsync(new AzureTelemetryChannel(options, null, _ => first), 3)).Select(r => r.Metric));
            // One file per namespace, hub and consumer group, named so another hub or group never picks it up.
            var path = Path.Combine(dir, "checkpoints-ihsuprod-ns.servicebus.windows.net-myhub-_Default.json");
            Assert.Equal([path], Directory.GetFiles(dir));
            Assert.Equal(2, await new FileTelemetryCheckpointStore(path).GetAsync("0"));

            var second = new RecordedPartitions(partitions);
            var resumed = options with { StartFromEarliest = false };
            Assert.Equal(["c"], (await TakeAsync(new AzureTelemetryChannel(resumed, null, _ => second), 1)).Select(r => r.Metric));
            Assert.Equal(EventPosition.FromSequenceNumber(2, isInclusive: false), second.Requested["0"]);
            // No checkpoint and StartFromEarliest = false: only events that arrive from now on.
            Assert.Equal(EventPosition.Latest, second.Requested["1"]);

            // Another consumer group in the same directory has no positions yet: it starts where its options say.
            var other = new RecordedPartitions(partitions);
            Assert.Equal(["a"], (await TakeAsync(new AzureTelemetryChannel(options with { ConsumerGroup = "analytics" }, null, _ => other), 1)).Select(r => r.Metric));
            Assert.Equal(EventPosition.Earliest, other.Requested["0"]);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Malformed_and_foreign_events_are_logged_skipped_and_checkpointed_so_they_do_not_block_the_partition()
    {
        var source = new RecordedPartitions(new()
        {
            ["0"] =
            [
                Event(1, "not json at all"),
                Event(2, Batch("temp", 1), deviceId: null),
                Event(3, """[{"d":"dev1","m":"temp","v":"NaN","t":1}]"""),
                Event(4, ""),
                Event(5, Batch("ok", 7)),
                Event(6, Batch("after", 8)),
            ],
        });
        var logs = new CapturingLoggerFactory();
        var store = new InMemoryTelemetryCheckpointStore();
        var channel = new AzureTelemetryChannel(new AzureEventHubOptions { ConnectionString = "unused", CheckpointStore = store, StartFromEarliest = true },
            logs.CreateLogger("read"), _ => source);
        Assert.Equal(["ok", "after"], (await TakeAsync(channel, 2)).Select(r => r.Metric));
        Assert.Equal(5, await store.GetAsync("0"));
        var skipped = logs.Lines.Where(l => l.Contains("Skipped event", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, skipped.Count);
        Assert.Contains(skipped, l => l.Contains("iothub-connection-device-id", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("not json at all", StringComparison.Ordinal));
    }

    [Fact]
    public void A_checkpoint_directory_with_a_connection_string_that_names_no_hub_is_refused_without_echoing_the_key()
    {
        var options = new AzureIoTOptions
        {
            ConnectionString = "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=c2VjcmV0LWtleQ==",
            EventHub = new AzureEventHubOptions { ConnectionString = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=c2VjcmV0LWtleQ==", CheckpointDirectory = "/tmp/cp" },
        };
        var error = Assert.ThrowsAny<ArgumentException>(options.Validate);
        Assert.Equal("EventHub.ConnectionString", error.ParamName);
        Assert.DoesNotContain("c2VjcmV0LWtleQ", error.Message, StringComparison.Ordinal);

        options.EventHub = options.EventHub with { ConnectionString = EventHubConnectionString, CheckpointDirectory = " " };
        Assert.Equal("EventHub.CheckpointDirectory", Assert.ThrowsAny<ArgumentException>(options.Validate).ParamName);
        // Without a directory the positions stay in memory and the string is left for the Event Hubs client to judge.
        options.EventHub = options.EventHub with { ConnectionString = "unused", CheckpointDirectory = null };
        options.Validate();
    }

    [Fact]
    public async Task A_corrupt_checkpoint_file_is_a_typed_error_naming_the_file()
    {
        var dir = Path.Combine(Path.GetTempPath(), "azure-cp-bad-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "cp.json");
            await File.WriteAllTextAsync(path, "{\"0\": \"not a number\"");
            var ex = await Assert.ThrowsAsync<IoTException>(() => new FileTelemetryCheckpointStore(path).GetAsync("0"));
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.Equal("CorruptCheckpoint", ex.ErrorCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Partitions of recorded <see cref="EventData"/>: a read starts where the requested <see cref="EventPosition"/> says
    /// (Earliest, Latest, or after a sequence number) and then waits for new events, as a live partition does.
    /// </summary>
    private sealed class RecordedPartitions(Dictionary<string, List<EventData>> partitions) : IPartitionEventSource
    {
        public ConcurrentDictionary<string, EventPosition> Requested { get; } = new();

        public Task<string[]> GetPartitionIdsAsync(CancellationToken cancellationToken) => Task.FromResult(partitions.Keys.Order(StringComparer.Ordinal).ToArray());

        public Task<long?> GetLastEnqueuedSequenceNumberAsync(string partitionId, CancellationToken cancellationToken) =>
            Task.FromResult(partitions[partitionId] is [.., var last] ? last.SequenceNumber : (long?)null);

        public async IAsyncEnumerable<PartitionEvent> ReadEventsFromPartitionAsync(string partitionId, EventPosition startingPosition,
            [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            Requested[partitionId] = startingPosition;
            var events = partitions[partitionId];
            var start = startingPosition.Equals(EventPosition.Earliest) ? 0
                : startingPosition.Equals(EventPosition.Latest) ? events.Count
                : events.FindIndex(e => startingPosition.Equals(EventPosition.FromSequenceNumber(e.SequenceNumber, isInclusive: false))) + 1;
            Assert.True(start > 0 || startingPosition.Equals(EventPosition.Earliest) || events.Count == 0, $"Unexpected start position {startingPosition}.");
            var context = EventHubsModelFactory.PartitionContext("myhub.servicebus.windows.net", "myhub", "$Default", partitionId);
            foreach (var e in events.Skip(start))
                yield return new PartitionEvent(context, e);
            // Then what arrives while the reader is open, as a live partition delivers it.
            await foreach (var e in Later(partitionId).Reader.ReadAllAsync(cancellationToken))
                yield return new PartitionEvent(context, e);
        }

        /// <summary>An event enqueued now, after the recorded ones: only readers open (or positioned before it) see it.</summary>
        public void Append(string partitionId, EventData e) => Later(partitionId).Writer.TryWrite(e);

        private readonly ConcurrentDictionary<string, Channel<EventData>> _later = new();

        private Channel<EventData> Later(string partitionId) => _later.GetOrAdd(partitionId, _ => Channel.CreateUnbounded<EventData>());

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
