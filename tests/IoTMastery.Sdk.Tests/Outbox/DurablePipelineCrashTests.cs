using System.Diagnostics;
using System.Globalization;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Tests.Outbox;

/// <summary>
/// The issue's "done when" for durable mode: a producer process runs a durable <see cref="TelemetryPipeline"/> that
/// publishes to a real Eclipse Mosquitto (mutual TLS), prints each record's id once <c>WriteAsync</c> returned, and is
/// killed mid-stream at seeded points; Mosquitto is also killed and restarted once between runs. After a final restart
/// on the same outbox directory replays, every printed (accepted) record has arrived at a subscriber at least once,
/// and duplicates are few and carry the same outbox sequence (the dedup key).
/// </summary>
public sealed class DurablePipelineCrashTests(ITestOutputHelper output) : IDisposable
{
    private const string Topic = "telemetry/crash";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly OutboxTestDirectory _outbox = new();
    private readonly OutboxTestDirectory _pki = new();

    public void Dispose()
    {
        _outbox.Dispose();
        _pki.Dispose();
    }

    [Fact]
    public async Task Every_record_accepted_in_durable_mode_is_delivered_through_mosquitto_after_kills_and_restart()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var producerPki = WriteProducerPki(broker);
        var received = new List<TelemetryRecord>();
        var reconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var subscriber = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = broker.Port,
            ClientId = "crash-subscriber",
            ClientCertificate = broker.Ca.IssueDeviceCertificate("crash-subscriber").ToCertificate(),
            TrustedRoots = [broker.Ca.Certificate],
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
        });
        await subscriber.SubscribeAsync(Topic, (message, _) =>
        {
            var records = TelemetryJson.ReadBatch(message.Payload.Span);
            lock (received) received.AddRange(records);
            return ValueTask.CompletedTask;
        });
        await subscriber.ConnectAsync().WaitAsync(Bound);

        var random = new Random(20260302); // seeded kill points
        var accepted = new List<long>();
        const int Kills = 6;
        for (int run = 0; run < Kills; run++)
        {
            int killAfter = random.Next(300, 4000);
            accepted.AddRange(await RunProducerAsync(producerPki, broker.Port, firstId: run * 1_000_000L + 1, count: -1, killAfter));
            if (run == 1)
            {
                // Broker crash with the producer down: the restarted producer must connect to a fresh broker and replay.
                await WaitUntilQuietAsync(received);
                subscriber.Connected += (_, _) => reconnected.TrySetResult();
                await broker.KillAsync();
                await broker.RestartAsync();
                await reconnected.Task.WaitAsync(Bound);
            }
        }
        // The last run replays what the killed runs left, writes a few more, flushes and exits on its own.
        accepted.AddRange(await RunProducerAsync(producerPki, broker.Port, firstId: 9_000_001, count: 100, killAfter: int.MaxValue));

        var deadline = DateTime.UtcNow + Bound;
        List<long> missing;
        while (true)
        {
            HashSet<double> ids;
            lock (received) ids = received.Select(r => r.Value).ToHashSet();
            missing = accepted.Where(id => !ids.Contains(id)).ToList();
            if (missing.Count == 0 || DateTime.UtcNow > deadline) break;
            await Task.Delay(100);
        }
        Assert.True(missing.Count == 0, $"{missing.Count} of {accepted.Count} accepted records never arrived, e.g. {string.Join(", ", missing.Take(10))}");

        List<TelemetryRecord> all;
        lock (received) all = [.. received];
        // Dedup key: every delivered copy carries its outbox sequence, and one sequence always means one record.
        Assert.All(all, r => Assert.NotNull(r.Sequence));
        Assert.All(all.GroupBy(r => r.Sequence), copies => Assert.Single(copies.Select(c => c.Value).Distinct()));
        int distinct = all.Select(r => r.Sequence).Distinct().Count();
        Assert.Equal(distinct, all.Select(r => r.Value).Distinct().Count());
        // Duplicates only come from batches in flight at a kill or a rewind: a few batches of 50 per kill at most.
        int duplicates = all.Count - distinct;
        output.WriteLine($"producer kills {Kills}, broker kills 1, accepted {accepted.Count}, delivered {distinct} distinct records in {all.Count} copies ({duplicates} duplicates), lost {missing.Count}");
        Assert.True(duplicates <= (Kills + 1) * 5 * 50, $"{duplicates} duplicates for {distinct} records");
    }

    private (string Ca, string Cert, string Key) WriteProducerPki(MosquittoBroker broker)
    {
        var credential = broker.Ca.IssueDeviceCertificate("crash-producer");
        var paths = (Path.Combine(_pki.Path, "ca.pem"), Path.Combine(_pki.Path, "producer.pem"), Path.Combine(_pki.Path, "producer.key"));
        File.WriteAllText(paths.Item1, broker.Ca.CertificatePem);
        File.WriteAllText(paths.Item2, credential.CertificatePem);
        File.WriteAllText(paths.Item3, credential.PrivateKeyPem);
        return paths;
    }

    /// <summary>Runs the producer until it printed <paramref name="killAfter"/> ids (then kills its process tree) or exits; returns the printed ids.</summary>
    private async Task<List<long>> RunProducerAsync((string Ca, string Cert, string Key) pki, int port, long firstId, long count, int killAfter)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { OutboxCrashTests.ProducerPath(), "pipeline", _outbox.Path, port.ToString(CultureInfo.InvariantCulture), pki.Ca, pki.Cert, pki.Key, Topic,
                     firstId.ToString(CultureInfo.InvariantCulture), count.ToString(CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(arg);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        var ids = new List<long>();
        bool drained = false;
        try
        {
            while (ids.Count < killAfter && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line == "drained") drained = true;
                else ids.Add(long.Parse(line, CultureInfo.InvariantCulture));
            }
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(timeout.Token);
        }
        // Lines already in the pipe were printed after WriteAsync returned: accepted too.
        foreach (string line in (await process.StandardOutput.ReadToEndAsync(timeout.Token)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line == "drained") drained = true;
            else ids.Add(long.Parse(line, CultureInfo.InvariantCulture));
        }
        if (count >= 0) Assert.True(drained && process.ExitCode == 0, $"the final producer did not drain (exit {process.ExitCode}): {await stderr}");
        else Assert.True(ids.Count >= killAfter, $"the producer stopped after {ids.Count} of {killAfter} records: {await stderr}");
        return ids;
    }

    /// <summary>Waits (bounded) until the subscriber has received nothing new for half a second.</summary>
    private static async Task WaitUntilQuietAsync(List<TelemetryRecord> received)
    {
        var deadline = DateTime.UtcNow + Bound;
        int last = -1;
        while (DateTime.UtcNow < deadline)
        {
            int now;
            lock (received) now = received.Count;
            if (now == last) return;
            last = now;
            await Task.Delay(500);
        }
    }
}
