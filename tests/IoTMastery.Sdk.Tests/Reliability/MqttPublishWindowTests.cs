using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>
/// The MQTT client's publish window against a real Eclipse Mosquitto: QoS 1 publishes awaiting their PUBACK are capped
/// at the Receive Maximum the broker announces in CONNACK, and publishes started one after another reach the broker,
/// and so a subscriber, in the order they were started, also when most of them had to wait for room in the window.
/// </summary>
public sealed class MqttPublishWindowTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Concurrent_publishes_stay_within_the_brokers_receive_maximum_and_arrive_in_call_order()
    {
        await using var broker = await MosquittoBroker.StartAsync(new MosquittoBrokerOptions
        {
            LogTypes = ["error", "warning", "notice"],
            ExtraConfiguration = ["max_inflight_messages 2", "max_queued_messages 0"],
        });
        const string topic = "devices/window-client/events";
        const int count = 200;
        var received = new List<int>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var consumer = new MqttDeviceClient(MosquittoSoakTests.ClientOptions(broker, "window-reader"));
        await consumer.SubscribeAsync(topic, (message, _) =>
        {
            lock (received)
            {
                received.Add(BitConverter.ToInt32(message.Payload.Span));
                if (received.Count == count) all.TrySetResult();
            }
            return ValueTask.CompletedTask;
        });
        await consumer.ConnectAsync().WaitAsync(Bound);

        await using var client = new MqttDeviceClient(MosquittoSoakTests.ClientOptions(broker, "window-client") with { OperationTimeout = Bound });
        int disconnects = 0;
        client.Disconnected += (_, _) => Interlocked.Increment(ref disconnects);
        await client.ConnectAsync().WaitAsync(Bound);
        // Mosquitto announces max_inflight_messages as its Receive Maximum to MQTT 5 clients.
        Assert.Equal(2, client.ReceiveMaximum);

        // Started one after another without awaiting, as the telemetry pipeline's window does.
        var publishes = Enumerable.Range(0, count).Select(i => client.PublishAsync(topic, BitConverter.GetBytes(i))).ToArray();
        await Task.WhenAll(publishes).WaitAsync(Bound);
        await all.Task.WaitAsync(Bound);

        // Exceeding the broker's Receive Maximum would have cost the connection (DISCONNECT 0x93).
        Assert.Equal(0, Volatile.Read(ref disconnects));
        Assert.True(client.IsConnected);
        lock (received) Assert.Equal(Enumerable.Range(0, count), received);
    }
}
