using System.Net;
using System.Net.Sockets;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>
/// The log level policy of CONTRIBUTING.md (Logging) on the shared MQTT client, against a real Mosquitto: a disconnect the
/// client asked for is Information, never a Warning; a connection lost under it and a retried connect are Warning.
/// </summary>
public sealed class MqttLogLevelPolicyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly string Category = typeof(MqttDeviceClient).FullName!;

    private static MqttDeviceClient Client(MosquittoBroker broker, string clientId, ILoggerFactory logs) =>
        new(MosquittoSoakTests.ClientOptions(broker, clientId), "Mqtt", TimeProvider.System, logs.CreateLogger(Category));

    private static IEnumerable<string> Lines(CapturingLoggerFactory logs, LogLevel level) =>
        logs.Lines.Where(l => l.StartsWith($"{level} {Category}:", StringComparison.Ordinal));

    /// <summary>Polls the captured lines (bounded) until one at <paramref name="level"/> contains <paramref name="text"/>.</summary>
    private static async Task<string> WaitForLineAsync(CapturingLoggerFactory logs, LogLevel level, string text)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (DateTime.UtcNow < deadline)
        {
            if (Lines(logs, level).FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line) return line;
            await Task.Delay(20);
        }
        throw new TimeoutException($"no {level} line containing '{text}' within {Bound}:\n" + string.Join("\n", logs.Lines));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_requested_disconnect_or_dispose_logs_information_and_no_warning(bool dispose)
    {
        await using var broker = await MosquittoBroker.StartAsync();
        using var logs = new CapturingLoggerFactory();
        var id = dispose ? "policy-dispose" : "policy-disconnect";
        await using var client = Client(broker, id, logs);
        await client.ConnectAsync().WaitAsync(Bound);
        await WaitForLineAsync(logs, LogLevel.Information, $"{id} connected");

        if (dispose) await client.DisposeAsync().AsTask().WaitAsync(Bound);
        else await client.DisconnectAsync().WaitAsync(Bound);

        // The line proves the disconnect was observed and judged; before the policy it was a Warning.
        await WaitForLineAsync(logs, LogLevel.Information, $"{id} disconnected on request");
        Assert.Empty(Lines(logs, LogLevel.Warning));
        Assert.Empty(Lines(logs, LogLevel.Error));
    }

    [Fact]
    public async Task A_connection_lost_under_the_client_is_a_warning_and_the_reconnect_information()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        using var logs = new CapturingLoggerFactory();
        await using var client = Client(broker, "policy-drop", logs);
        await client.ConnectAsync().WaitAsync(Bound);

        await client.DropConnectionForTestAsync().WaitAsync(Bound);

        await WaitForLineAsync(logs, LogLevel.Warning, "policy-drop lost its connection");
        // Connected again: the second "connected" Information line.
        var deadline = DateTime.UtcNow + Bound;
        while (Lines(logs, LogLevel.Information).Count(l => l.Contains("policy-drop connected", StringComparison.Ordinal)) < 2 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(2, Lines(logs, LogLevel.Information).Count(l => l.Contains("policy-drop connected", StringComparison.Ordinal)));
        Assert.DoesNotContain(Lines(logs, LogLevel.Information), l => l.Contains("disconnected on request", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_retried_connect_attempt_is_a_warning_and_names_no_secret()
    {
        // A loopback port with nothing listening: every attempt is refused at once, a transient fault that is retried.
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var logs = new CapturingLoggerFactory();
        const string password = "s3cret-pa55word";
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = port,
            ClientId = "policy-retry",
            CredentialProvider = _ => ValueTask.FromResult(new MqttCredentials("policy-user", password)),
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(20),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(50),
            ConnectRetryBudget = TimeSpan.FromSeconds(3),
        }, "Mqtt", TimeProvider.System, logs.CreateLogger(Category));

        var error = await Assert.ThrowsAnyAsync<IoTException>(() => client.ConnectAsync().WaitAsync(Bound));
        Assert.True(error.IsTransient);

        Assert.Contains(Lines(logs, LogLevel.Warning), l => l.Contains("policy-retry: connect attempt 1 failed", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains(password, StringComparison.Ordinal));
    }
}
