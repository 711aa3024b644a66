// A durable TelemetryPipeline publishing to a real MQTT broker (mutual TLS). Prints each record's id once WriteAsync
// returned (i.e. once it is accepted: in the outbox), until killed or <count> records are written; then flushes and exits.
// Usage: pipeline <outboxDir> <port> <ca.pem> <client.pem> <client.key> <topic> <firstId> <count|-1>
// The record's value is its id, so the subscriber can tell which accepted record arrived.
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.OutboxCrashProducer;

internal static class PipelineMode
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length != 8)
        {
            await Console.Error.WriteLineAsync("usage: pipeline <outboxDir> <port> <ca.pem> <client.pem> <client.key> <topic> <firstId> <count|-1>");
            return 2;
        }
        int port = int.Parse(args[1], CultureInfo.InvariantCulture);
        long firstId = long.Parse(args[6], CultureInfo.InvariantCulture);
        long count = long.Parse(args[7], CultureInfo.InvariantCulture);
        // Ephemeral PEM keys are not usable by SslStream on every platform; a PKCS#12 round trip makes them so.
        using var pem = X509Certificate2.CreateFromPemFile(args[3], args[4]);
        var certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost",
            Port = port,
            ClientId = "crash-producer",
            ClientCertificate = certificate,
            TrustedRoots = [X509CertificateLoader.LoadCertificateFromFile(args[2])],
            OperationTimeout = TimeSpan.FromSeconds(3),
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        });
        await ConnectAsync(client);

        var transport = new MqttTelemetryTransport(client, args[5]);
        var pipeline = new TelemetryPipeline(transport, new TelemetryPipelineOptions
        {
            Outbox = new TelemetryOutboxOptions { Directory = args[0], SegmentBytes = 64 * 1024 },
            Encoder = TelemetryJsonEncoder.WithSequence,
            MaxBatchRecords = 50,
            Linger = TimeSpan.FromMilliseconds(5),
            RetryBaseDelay = TimeSpan.FromMilliseconds(50),
            RetryMaxDelay = TimeSpan.FromMilliseconds(500),
            AttemptTimeout = TimeSpan.FromSeconds(3),
            BatchDeliveryTimeout = TimeSpan.FromSeconds(5),
            CircuitBreakerBreakDuration = TimeSpan.FromMilliseconds(500),
            DrainTimeout = TimeSpan.FromSeconds(20),
        });
        var stdout = Console.Out;
        for (long i = 0; count < 0 || i < count; i++)
        {
            long id = firstId + i;
            await pipeline.WriteAsync(new TelemetryRecord($"crash-device-{id % 3}", "counter", id, DateTimeOffset.UnixEpoch.AddMilliseconds(id)));
            stdout.WriteLine(id);
            // A modest pace keeps the broker, the subscriber and the kill points interleaved.
            if (i % 50 == 49)
            {
                stdout.Flush();
                await Task.Delay(1);
            }
        }
        stdout.Flush();
        await pipeline.FlushAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await pipeline.DisposeAsync();
        stdout.WriteLine("drained");
        stdout.Flush();
        return 0;
    }

    private static async Task ConnectAsync(MqttDeviceClient client)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                await client.ConnectAsync();
                return;
            }
            catch (IoTException ex) when (ex.IsTransient && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }
}
