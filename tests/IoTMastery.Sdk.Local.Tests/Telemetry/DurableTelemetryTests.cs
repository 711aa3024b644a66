using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.Local.Tests.Telemetry;

/// <summary>
/// <see cref="LocalIoTOptions.TelemetryJournal"/>: the broker journals telemetry before its PUBACK, a reader gets what a
/// previous provider on the same directory left unacknowledged, a full journal refuses (the device keeps the records),
/// and only one reader runs at a time. Real broker, real device connections over mutual TLS.
/// </summary>
public sealed class DurableTelemetryTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("iotm-journal-");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { _dir.Delete(recursive: true); }
        catch (IOException) { } // Best effort: a leaked temp dir must not fail the test.
    }

    private LocalIoTOptions Options(long segmentBytes = 8 * 1024 * 1024, long maxDiskBytes = 256L * 1024 * 1024) => new()
    {
        DatabasePath = Path.Combine(_dir.FullName, "fleet.db"),
        TelemetryJournal = new TelemetryOutboxOptions
        {
            Directory = Path.Combine(_dir.FullName, "journal"),
            SegmentBytes = segmentBytes,
            MaxDiskBytes = maxDiskBytes,
        },
    };

    private DeviceConnectionOptions DurableDevice(string id, IssuedCredential credential) => new()
    {
        DeviceId = id,
        Credential = credential,
        Telemetry = new TelemetryPipelineOptions
        {
            Outbox = new TelemetryOutboxOptions { Directory = Path.Combine(_dir.FullName, "device-" + id) },
            Encoder = TelemetryJsonEncoder.WithSequence,
        },
    };

    private static TelemetryRecord Reading(string device, int i) => new(device, "level", i, DateTimeOffset.UnixEpoch.AddSeconds(i));

    [Fact]
    public async Task Telemetry_is_journaled_before_the_puback_and_replayed_after_a_restart_with_the_devices_sequence()
    {
        var options = Options();
        const int Count = 300;
        await using (var provider = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout))
        {
            var credential = (await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "tank-1", Credential = CredentialRequest.X509 }).WaitAsync(Timeout)).Credential!;
            await using var device = provider.CreateDeviceConnection(DurableDevice("tank-1", credential));
            await device.ConnectAsync().WaitAsync(Timeout);
            for (int i = 1; i <= Count; i++) await device.SendTelemetryAsync(Reading("tank-1", i));
            // FlushAsync returns once every record's PUBACK arrived: by then the broker must hold all of them, with no reader running.
            await device.FlushAsync().WaitAsync(Timeout);
            Assert.Equal(Count, JournalOf(provider).PendingCount);
        }

        // A new provider on the same folders: nothing was read, so everything comes back, each with its device sequence.
        await using var restarted = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout);
        await using var reader = new JournalReader(restarted.Telemetry);
        var records = await reader.Records.TakeAsync(Count);
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), records.Select(r => r.Sequence!.Value));
        Assert.All(records, r => Assert.Equal(r.Sequence!.Value, (long)r.Value));
        Assert.All(records, r => Assert.Equal("tank-1", r.DeviceId));
    }

    [Fact]
    public async Task A_record_is_acknowledged_when_the_reader_asks_for_the_next_one_and_the_rest_is_replayed_after_a_restart()
    {
        var options = Options();
        await using (var provider = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout))
        {
            var credential = (await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "tank-2", Credential = CredentialRequest.X509 }).WaitAsync(Timeout)).Credential!;
            await using var device = provider.CreateDeviceConnection(DurableDevice("tank-2", credential));
            await device.ConnectAsync().WaitAsync(Timeout);
            for (int i = 1; i <= 100; i++) await device.SendTelemetryAsync(Reading("tank-2", i));
            await device.FlushAsync().WaitAsync(Timeout);

            // Took 40 and stopped: 1..39 are processed (the reader asked past them), 40 is not.
            await using (var reader = new JournalReader(provider.Telemetry))
                Assert.Equal(40, (await reader.Records.TakeAsync(40))[^1].Sequence);
            Assert.Equal(61, JournalOf(provider).PendingCount);

            // A later reader in the same process starts at the unfinished record.
            await using (var reader = new JournalReader(provider.Telemetry))
                Assert.Equal([40L, 41L], (await reader.Records.TakeAsync(2)).Select(r => r.Sequence!.Value));
        }

        await using var restarted = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout);
        await using var again = new JournalReader(restarted.Telemetry);
        Assert.Equal(Enumerable.Range(41, 60).Select(i => (long)i), (await again.Records.TakeAsync(60)).Select(r => r.Sequence!.Value));
    }

    [Fact]
    public async Task A_full_journal_refuses_the_publish_and_the_device_keeps_the_records_until_a_reader_makes_room()
    {
        // Two 4 KiB segments: about 120 records.
        await using var provider = await LocalIoTProvider.StartAsync(Options(segmentBytes: 4096, maxDiskBytes: 8192)).WaitAsync(Timeout);
        var credential = (await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "tank-3", Credential = CredentialRequest.X509 }).WaitAsync(Timeout)).Credential!;
        var journal = JournalOf(provider);

        // The raw client shows the wire answer: PUBACK QuotaExceeded, which the device side treats as transient.
        using (var certificate = credential.ToCertificate())
        await using (var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1", Port = provider.Port, ClientId = "tank-3", ClientCertificate = certificate, TrustedRoots = [provider.CertificateAuthority],
        }, "Local"))
        {
            await client.ConnectAsync().WaitAsync(Timeout);
            IoTException? refused = null;
            int accepted = 0;
            for (int batch = 0; batch < 100 && refused is null; batch++)
            {
                var payload = Payload(Enumerable.Range(batch * 10 + 1, 10).Select(i => Reading("tank-3", i) with { Sequence = i }).ToArray());
                try
                {
                    await client.PublishAsync(LocalTopics.Telemetry("tank-3"), payload, MqttQualityOfService.AtLeastOnce, retain: false).WaitAsync(Timeout);
                    accepted += 10;
                }
                catch (IoTException ex)
                {
                    refused = ex;
                }
            }
            Assert.NotNull(refused);
            Assert.Equal("QuotaExceeded", refused.ErrorCode);
            Assert.True(refused.IsTransient);
            Assert.Equal(accepted, journal.PendingCount);
            Assert.Equal(10, journal.RefusedRecords);
            Assert.True(journal.DiskBytes <= 8192);
        }

        // A durable device writing now is refused too, keeps its records, and delivers all of them once a reader drains the journal.
        long before = journal.PendingCount;
        await using var device = provider.CreateDeviceConnection(DurableDevice("tank-3", credential) with
        {
            Telemetry = new TelemetryPipelineOptions
            {
                Outbox = new TelemetryOutboxOptions { Directory = Path.Combine(_dir.FullName, "device-tank-3") },
                Encoder = TelemetryJsonEncoder.WithSequence,
                // Small batches: one batch must fit in this tiny journal (8 KiB holds about 140 records).
                MaxBatchRecords = 20,
                RetryBaseDelay = TimeSpan.FromMilliseconds(50),
                RetryMaxDelay = TimeSpan.FromMilliseconds(200),
            },
        });
        await device.ConnectAsync().WaitAsync(Timeout);
        for (int i = 1; i <= 200; i++) await device.SendTelemetryAsync(Reading("tank-3", 10_000 + i));
        var flushed = device.FlushAsync();
        await TestWaits.UntilAsync(() => journal.RefusedRecords > 10, Timeout);
        Assert.False(flushed.IsCompleted, "the device was acknowledged although the journal is full");

        var fromDevice = new List<TelemetryRecord>();
        await using var reader = new JournalReader(provider.Telemetry);
        var drained = await reader.Records.TakeAsync((int)before);
        while (fromDevice.Count < 200)
        {
            Assert.True(await reader.Records.MoveNextAsync().AsTask().WaitAsync(Timeout), "the stream ended early");
            fromDevice.Add(reader.Records.Current);
        }
        await flushed.WaitAsync(Timeout);
        // One copy per device sequence: a refused batch is resent, never journaled twice.
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), fromDevice.Select(r => r.Sequence!.Value));
        Assert.Equal(Enumerable.Range(10_001, 200).Select(i => (double)i), fromDevice.Select(r => r.Value));
        Assert.Equal(before, drained.Count);
    }

    [Fact]
    public async Task An_mqtt_311_client_gets_no_puback_for_a_refused_publish_its_connection_is_closed_instead()
    {
        await using var provider = await LocalIoTProvider.StartAsync(Options(segmentBytes: 4096, maxDiskBytes: 8192)).WaitAsync(Timeout);
        var credential = (await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "tank-4", Credential = CredentialRequest.X509 }).WaitAsync(Timeout)).Credential!;
        var journal = JournalOf(provider);
        using var certificate = credential.ToCertificate();
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "127.0.0.1", Port = provider.Port, ClientId = "tank-4", ClientCertificate = certificate, TrustedRoots = [provider.CertificateAuthority],
            Version = MqttVersion.Mqtt311, ReconnectBaseDelay = TimeSpan.FromSeconds(30), ReconnectMaxDelay = TimeSpan.FromSeconds(60),
        }, "Local");
        await client.ConnectAsync().WaitAsync(Timeout);
        Exception? refused = null;
        for (int batch = 0; batch < 100 && refused is null; batch++)
        {
            try
            {
                await client.PublishAsync(LocalTopics.Telemetry("tank-4"), Payload(Enumerable.Range(1, 10).Select(i => Reading("tank-4", i)).ToArray()),
                    MqttQualityOfService.AtLeastOnce, retain: false).WaitAsync(Timeout);
            }
            catch (Exception ex) when (ex is IoTException or TimeoutException or IOException or OperationCanceledException)
            {
                refused = ex;
            }
        }
        Assert.NotNull(refused);
        Assert.True(new MqttTelemetryTransport(client, LocalTopics.Telemetry("tank-4")).IsTransient(refused), $"not retryable: {refused}");
        Assert.Equal(10, journal.RefusedRecords);
        await TestWaits.UntilAsync(() => !client.IsConnected, Timeout);
    }

    [Fact]
    public async Task A_second_concurrent_reader_is_refused_and_a_reader_after_the_first_one_ended_is_served()
    {
        await using var provider = await LocalIoTProvider.StartAsync(Options()).WaitAsync(Timeout);
        await using (var first = new JournalReader(provider.Telemetry))
        {
            var pending = first.Records.MoveNextAsync().AsTask();
            await using var second = new JournalReader(provider.Telemetry);
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => second.Records.MoveNextAsync().AsTask().WaitAsync(Timeout));
            Assert.Contains("one reader at a time", error.Message, StringComparison.Ordinal);
            Assert.False(pending.IsCompleted);
        }

        var credential = (await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "tank-5", Credential = CredentialRequest.X509 }).WaitAsync(Timeout)).Credential!;
        await using var device = provider.CreateDeviceConnection(DurableDevice("tank-5", credential));
        await device.ConnectAsync().WaitAsync(Timeout);
        await device.SendTelemetryAsync(Reading("tank-5", 1));
        await device.FlushAsync().WaitAsync(Timeout);
        await using var third = new JournalReader(provider.Telemetry);
        Assert.Equal(1, (await third.Records.TakeAsync(1))[0].Sequence);
    }

    [Fact]
    public async Task Disposing_the_provider_ends_a_waiting_reader()
    {
        var provider = await LocalIoTProvider.StartAsync(Options()).WaitAsync(Timeout);
        await using var reader = new JournalReader(provider.Telemetry);
        var next = reader.Records.MoveNextAsync().AsTask();
        await provider.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.False(await next.WaitAsync(Timeout));
    }

    [Fact]
    public void A_journal_that_could_drop_records_is_refused_by_name()
    {
        var options = Options();
        options.TelemetryJournal = options.TelemetryJournal! with { Overflow = BackpressureMode.DropOldest };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(nameof(LocalIoTOptions.TelemetryJournal), error.ParamName);
        Assert.Contains("FailFast", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_journal_the_provider_keeps_the_live_stream()
    {
        await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions()).WaitAsync(Timeout);
        Assert.IsType<LocalTelemetryChannel>(provider.Telemetry);
    }

    private static LocalTelemetryJournal JournalOf(LocalIoTProvider provider) => Assert.IsType<LocalTelemetryJournal>(provider.Telemetry);

    private static byte[] Payload(TelemetryRecord[] records)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        TelemetryJson.WriteBatch(buffer, records);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>An enumeration that can be ended while a read waits: cancel, let the read finish, then dispose.</summary>
    private sealed class JournalReader : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();

        public JournalReader(ITelemetryChannel channel) => Records = channel.ReadAllAsync(_stop.Token).GetAsyncEnumerator();

        public IAsyncEnumerator<TelemetryRecord> Records { get; }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            // A pending MoveNextAsync ends with the cancellation; disposing before it did is not supported by async iterators.
            for (int i = 0; i < 100; i++)
            {
                try
                {
                    await Records.DisposeAsync();
                    break;
                }
                catch (NotSupportedException)
                {
                    await Task.Delay(50);
                }
            }
            _stop.Dispose();
        }
    }
}
