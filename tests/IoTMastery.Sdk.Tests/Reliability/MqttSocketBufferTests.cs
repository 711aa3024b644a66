using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;
using MQTTnet;

namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>
/// <see cref="MqttDeviceClientOptions.SocketBufferBytes"/>: bad sizes fail validation before any I/O, a size reaches MQTTnet's
/// socket options (null keeps its default), and a client with large buffers delivers every record of a pipeline stream
/// with several batches in flight to a real Mosquitto, in order.
/// </summary>
public sealed class MqttSocketBufferTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static MqttDeviceClientOptions Options(int? bytes) => new() { Host = "127.0.0.1", Port = 8883, ClientId = "dev-1", SocketBufferBytes = bytes };

    [Theory]
    [InlineData(int.MinValue)]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(4095)]
    [InlineData(16 * 1024 * 1024 + 1)]
    [InlineData(int.MaxValue)]
    public void A_size_out_of_range_is_rejected_naming_the_setting(int bytes)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Options(bytes).Validate());
        Assert.Equal("SocketBufferBytes", error.ParamName);
        // The client checks its options when created, before any connection.
        Assert.Throws<ArgumentOutOfRangeException>(() => new MqttDeviceClient(Options(bytes), "Local"));
    }

    [Theory]
    [InlineData(null, 8192)] // MQTTnet's own default, left alone
    [InlineData(4096, 4096)]
    [InlineData(512 * 1024, 512 * 1024)]
    [InlineData(16 * 1024 * 1024, 16 * 1024 * 1024)]
    public async Task The_size_reaches_the_socket_options(int? bytes, int expected)
    {
        Options(bytes).Validate();
        await using var client = new MqttDeviceClient(Options(bytes), "Local");
        var tcp = Assert.IsType<MqttClientTcpOptions>(client.BuildOptions(null).ChannelOptions);
        Assert.Equal(expected, tcp.BufferSize);
    }

    [Fact]
    public async Task Large_buffers_deliver_a_windowed_stream_in_order_to_mosquitto()
    {
        await using var mosquitto = await MosquittoBroker.StartAsync(new MosquittoBrokerOptions { LogTypes = ["error", "warning"], ExtraConfiguration = ["set_tcp_nodelay true"] }).WaitAsync(Patience);
        MqttDeviceClientOptions ClientFor(string id, int? bytes) => new()
        {
            Host = "127.0.0.1",
            Port = mosquitto.Port,
            ClientId = id,
            ClientCertificate = mosquitto.Ca.IssueDeviceCertificate(id).ToCertificate(),
            TrustedRoots = [mosquitto.Ca.Certificate],
            SocketBufferBytes = bytes,
        };
        await using var subscriber = new MqttDeviceClient(ClientFor("reader", null), "Local");
        var received = new List<int>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        const int Count = 20_000;
        await subscriber.ConnectAsync().WaitAsync(Patience);
        var decoded = new List<TelemetryRecord>();
        await subscriber.SubscribeAsync("devices/+/telemetry", (message, _) =>
        {
            lock (received)
            {
                decoded.Clear();
                TelemetryRecord.DecodeBatch(message.Payload.Span, decoded);
                received.AddRange(decoded.Select(record => (int)record.Value));
                if (received.Count >= Count) all.TrySetResult();
            }
            return ValueTask.CompletedTask;
        }).WaitAsync(Patience);

        await using var device = new MqttDeviceClient(ClientFor("dev-1", 512 * 1024), "Local");
        await device.ConnectAsync().WaitAsync(Patience);
        await using var pipeline = new TelemetryPipeline(new MqttTelemetryTransport(device, "devices/dev-1/telemetry"), new TelemetryPipelineOptions { MaxBatchesInFlight = 8 });
        var start = DateTimeOffset.UnixEpoch;
        for (int i = 0; i < Count; i++)
        {
            var record = new TelemetryRecord("dev-1", "seq", i, start.AddMilliseconds(i));
            if (!pipeline.TryWrite(record)) await pipeline.WriteAsync(record).AsTask().WaitAsync(Patience);
        }
        await pipeline.FlushAsync().WaitAsync(Patience);
        await all.Task.WaitAsync(Patience);

        lock (received) Assert.Equal(Enumerable.Range(0, Count), received);
        Assert.Equal(0, pipeline.FailedRecords);
    }
}
