using IoTMastery.Sdk.TestSupport;
using System.Buffers;
using System.Text;

namespace IoTMastery.Sdk.Gcp.Tests;

[Collection(PubSubEmulatorCollection.Name)]
public sealed class PubSubEmulatorTests(PubSubEmulator emulator)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    private static PubSubMessage Text(string text, string? key = null, params (string, string)[] attributes) => new()
    {
        Data = Encoding.UTF8.GetBytes(text),
        OrderingKey = key,
        Attributes = attributes.ToDictionary(a => a.Item1, a => a.Item2),
    };

    private static async Task<List<ReceivedPubSubMessage>> PullAtLeastAsync(PubSubClient client, string subscription, int count, TimeSpan? within = null)
    {
        var got = new List<ReceivedPubSubMessage>();
        using var deadline = new CancellationTokenSource(within ?? Bound);
        while (got.Count < count)
        {
            deadline.Token.ThrowIfCancellationRequested();
            var batch = await client.PullAsync(subscription, 100, deadline.Token);
            got.AddRange(batch);
            if (batch.Count == 0) await Task.Delay(50, deadline.Token);
        }
        return got;
    }

    [Fact]
    public async Task Topics_and_subscriptions_are_created_and_duplicates_and_missing_ones_are_typed_errors()
    {
        var client = emulator.CreateClient();
        var topic = Unique("topic");
        await client.CreateTopicAsync(topic);
        Assert.True(await client.TopicExistsAsync(topic));
        await IoTAssert.ThrowsAsync(IoTErrorKind.AlreadyExists, () => client.CreateTopicAsync(topic));
        await client.CreateSubscriptionAsync(Unique("sub"), topic, new PubSubSubscriptionSettings { AckDeadlineSeconds = 30 });
        var missing = await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => client.PublishAsync(Unique("missing"), [Text("x")]));
        Assert.Equal("NOT_FOUND", missing.ErrorCode);
        await client.DeleteTopicAsync(topic);
        Assert.False(await client.TopicExistsAsync(topic));
    }

    [Fact]
    public async Task A_batched_publish_returns_ids_in_order_and_pull_returns_data_and_attributes_until_acknowledged()
    {
        var client = emulator.CreateClient();
        var topic = Unique("topic");
        var sub = Unique("sub");
        await client.CreateTopicAsync(topic);
        await client.CreateSubscriptionAsync(sub, topic);
        var ids = await client.PublishAsync(topic, [Text("a", null, ("deviceId", "d1")), Text("b", null, ("deviceId", "d2")), new PubSubMessage { Attributes = new Dictionary<string, string> { ["only"] = "attr" } }]);
        Assert.Equal(3, ids.Count);
        Assert.Equal(3, ids.Distinct().Count());

        var pulled = await PullAtLeastAsync(client, sub, 3);
        Assert.Equal(ids.Order(), pulled.Select(m => m.MessageId).Order());
        var a = pulled.Single(m => m.MessageId == ids[0]);
        Assert.Equal("a", Encoding.UTF8.GetString(a.Data.Span));
        Assert.Equal("d1", a.Attributes["deviceId"]);
        Assert.NotNull(a.PublishTime);
        Assert.True(pulled.Single(m => m.MessageId == ids[2]).Data.IsEmpty);

        await client.AcknowledgeAsync(sub, pulled.Select(m => m.AckId).ToArray());
        await client.ModifyAckDeadlineAsync(sub, pulled.Select(m => m.AckId).ToArray(), 0); // no effect on acknowledged messages
        // A pull on an empty subscription waits, so a sentinel shows that nothing acknowledged came back.
        var sentinel = await client.PublishAsync(topic, [Text("sentinel")]);
        var after = await PullAtLeastAsync(client, sub, 1);
        Assert.Equal(sentinel[0], Assert.Single(after).MessageId);
    }

    [Fact]
    public async Task A_nack_redelivers_at_once_and_an_expired_ack_deadline_redelivers_later()
    {
        var client = emulator.CreateClient();
        var topic = Unique("topic");
        var sub = Unique("sub");
        await client.CreateTopicAsync(topic);
        await client.CreateSubscriptionAsync(sub, topic, new PubSubSubscriptionSettings { AckDeadlineSeconds = 10 });
        var ids = await client.PublishAsync(topic, [Text("nack-me"), Text("let-expire")]);

        var first = await PullAtLeastAsync(client, sub, 2);
        var nacked = first.Single(m => m.MessageId == ids[0]);
        await client.ModifyAckDeadlineAsync(sub, [nacked.AckId], 0);
        var again = await PullAtLeastAsync(client, sub, 1, TimeSpan.FromSeconds(5));
        Assert.Equal(ids[0], Assert.Single(again).MessageId);
        await client.AcknowledgeAsync(sub, [again[0].AckId]);

        // Not acknowledged: comes back once the 10 s deadline passes.
        var expired = await PullAtLeastAsync(client, sub, 1, TimeSpan.FromSeconds(25));
        Assert.Equal(ids[1], Assert.Single(expired).MessageId);
        await client.AcknowledgeAsync(sub, [expired[0].AckId]);
    }

    [Fact]
    public async Task Messages_with_an_ordering_key_arrive_in_publish_order_on_an_ordered_subscription()
    {
        var client = emulator.CreateClient();
        var topic = Unique("topic");
        var sub = Unique("sub");
        await client.CreateTopicAsync(topic);
        await client.CreateSubscriptionAsync(sub, topic, new PubSubSubscriptionSettings { EnableMessageOrdering = true, AckDeadlineSeconds = 60 });
        for (var i = 0; i < 5; i++)
            await client.PublishAsync(topic, Enumerable.Range(i * 10, 10).Select(n => Text(n.ToString(), "dev-1")).ToArray());

        var received = new List<string>();
        using var deadline = new CancellationTokenSource(Bound);
        while (received.Count < 50)
        {
            var batch = await client.PullAsync(sub, 7, deadline.Token);
            Assert.All(batch, m => Assert.Equal("dev-1", m.OrderingKey));
            received.AddRange(batch.Select(m => Encoding.UTF8.GetString(m.Data.Span)));
            if (batch.Count > 0) await client.AcknowledgeAsync(sub, batch.Select(m => m.AckId).ToArray(), deadline.Token);
            else await Task.Delay(50, deadline.Token);
        }
        Assert.Equal(Enumerable.Range(0, 50).Select(n => n.ToString()), received);
    }

    [Fact]
    public async Task The_telemetry_pipeline_publishes_through_pub_sub_and_the_channel_reads_every_record_once()
    {
        var client = emulator.CreateClient();
        var topic = Unique("telemetry");
        var sub = Unique("telemetry-sub");
        await client.CreateTopicAsync(topic);
        await client.CreateSubscriptionAsync(sub, topic, new PubSubSubscriptionSettings { EnableMessageOrdering = true, AckDeadlineSeconds = 60 });
        var transport = new PubSubTelemetryTransport(client, topic, orderByDevice: true);
        var start = DateTimeOffset.UnixEpoch.AddDays(20000);
        const int perDevice = 1200;
        await using (var pipeline = transport.CreatePipeline(new TelemetryPipelineOptions { MaxBatchRecords = 1000, Linger = TimeSpan.FromMilliseconds(20) }))
        {
            for (var i = 0; i < perDevice; i++)
            {
                await pipeline.WriteAsync(new TelemetryRecord("dev-a", "seq", i, start.AddMilliseconds(i)));
                await pipeline.WriteAsync(new TelemetryRecord("dev-b", "seq", i, start.AddMilliseconds(i)));
            }
            await pipeline.FlushAsync().WaitAsync(Bound);
            Assert.Equal(0, pipeline.FailedRecords);
        }

        var channel = new PubSubTelemetryChannel(client, new PubSubTelemetryChannelOptions { SubscriptionId = sub, MaxMessagesPerPull = 500, EmptyPullDelay = TimeSpan.FromMilliseconds(20) });
        var byDevice = new Dictionary<string, List<double>> { ["dev-a"] = [], ["dev-b"] = [] };
        using var deadline = new CancellationTokenSource(Bound);
        await foreach (var record in channel.ReadAllAsync(deadline.Token))
        {
            byDevice[record.DeviceId].Add(record.Value);
            if (byDevice.Values.Sum(v => v.Count) == 2 * perDevice) break;
        }
        Assert.Equal(Enumerable.Range(0, perDevice).Select(i => (double)i), byDevice["dev-a"]);
        Assert.Equal(Enumerable.Range(0, perDevice).Select(i => (double)i), byDevice["dev-b"]);
    }

    [Fact]
    public async Task A_duplicate_from_a_retried_publish_is_dropped_by_the_channel()
    {
        var client = emulator.CreateClient();
        var topic = Unique("telemetry");
        var sub = Unique("telemetry-sub");
        await client.CreateTopicAsync(topic);
        await client.CreateSubscriptionAsync(sub, topic);
        var transport = new PubSubTelemetryTransport(client, topic);
        var encoder = transport.Encoder;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        buffer.Write(encoder.BatchPrefix);
        encoder.WriteRecord(buffer, new TelemetryRecord("dev-a", "t", 1, DateTimeOffset.UnixEpoch));
        buffer.Write(encoder.BatchSuffix);
        // The same batch twice, as a pipeline retry after a lost response would send it.
        await transport.SendAsync(new TelemetryBatch(buffer.WrittenMemory, 1), default);
        await transport.SendAsync(new TelemetryBatch(buffer.WrittenMemory, 1), default);
        await client.PublishAsync(topic, [Text("[{\"d\":\"dev-a\",\"m\":\"t\",\"v\":2,\"t\":0}]")]);

        var channel = new PubSubTelemetryChannel(client, new PubSubTelemetryChannelOptions { SubscriptionId = sub, EmptyPullDelay = TimeSpan.FromMilliseconds(20) });
        var values = new List<double>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await foreach (var record in channel.ReadAllAsync(deadline.Token)) values.Add(record.Value);
        }
        catch (OperationCanceledException)
        {
            // Read for a fixed window: the point is that nothing more arrives.
        }
        Assert.Equal([1.0, 2.0], values.Order());
    }
}
