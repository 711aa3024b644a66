using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>
/// Found by the Mosquitto soak: a connection that dropped right after a reconnect succeeded, while the reconnect loop was
/// still finishing, was ignored (the loop counted as running) and the client then stayed disconnected for good.
/// </summary>
public sealed class MqttReconnectRaceTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_drop_right_after_a_reconnect_is_reconnected_too()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = broker.Port,
            ClientId = "race-device",
            ClientCertificate = broker.Ca.IssueDeviceCertificate("race-device").ToCertificate(),
            TrustedRoots = [broker.Ca.Certificate],
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
        });
        int connects = 0;
        client.Connected += (_, _) => Interlocked.Increment(ref connects);
        await client.ConnectAsync().WaitAsync(Bound);

        // The first reconnect is dropped (broker killed) inside the window between "connected" and "loop finished".
        var dropped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.AfterReconnectForTest = async () =>
        {
            if (dropped.Task.IsCompleted) return;
            await broker.KillAsync();
            var deadline = DateTime.UtcNow + Bound;
            while (client.IsConnected && DateTime.UtcNow < deadline) await Task.Delay(10);
            dropped.TrySetResult();
        };
        await broker.KillAsync();
        await broker.RestartAsync();
        await dropped.Task.WaitAsync(Bound);
        Assert.False(client.IsConnected);
        int before = Volatile.Read(ref connects);

        await broker.RestartAsync();

        var until = DateTime.UtcNow + Bound;
        while (!(client.IsConnected && Volatile.Read(ref connects) > before) && DateTime.UtcNow < until) await Task.Delay(20);
        Assert.True(client.IsConnected, "The client stopped reconnecting after a drop that came right after a reconnect.");
        await client.PublishAsync("devices/race-device/events", "{}"u8.ToArray()).WaitAsync(Bound);
    }
}
