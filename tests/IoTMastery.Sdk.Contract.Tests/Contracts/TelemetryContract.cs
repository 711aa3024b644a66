namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>What a device sends through the pipeline, the fleet side consumes exactly once — or the provider says it cannot consume.</summary>
public abstract class TelemetryContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    private const int Records = 50;

    [Fact]
    public async Task N_records_sent_are_consumed_exactly_once_each()
    {
        var registration = await RegisterAsync();
        var id = registration.Device.Id;
        var device = await ConnectAsync(registration);

        if (!Provider.Capabilities.TelemetryConsumption)
        {
            // Sending still works; only the read side is missing, and it says so instead of streaming nothing.
            await SendAsync(device, id);
            await Assert.ThrowsAsync<NotSupportedException>(async () =>
            {
                await foreach (var _ in Provider.Telemetry.ReadAllAsync(Ct)) break;
            });
            await Assert.ThrowsAsync<NotSupportedException>(() => Provider.Telemetry.SubscribeAsync(Ct));
            return;
        }

        var values = new List<double>();
        // Live on the peer when it returns: no delay before the device sends.
        await using (var subscription = await Provider.Telemetry.SubscribeAsync(Ct))
        {
            // One record at once, before the others: no delay, no priming read. If the subscription were not yet live on
            // the peer, it would be lost. (One reader per test on purpose: on Pub/Sub a pull that an earlier reader of the
            // shared subscription abandoned can hold a message for longer than the test's patience.)
            await device.SendTelemetryAsync(new TelemetryRecord(id, "level", -1, DateTimeOffset.UtcNow), Ct);
            await device.FlushAsync(Ct);
            await SendAsync(device, id);

            // Read until N of this device's records arrived, then a little longer to catch duplicates. Bounded by the
            // test's deadline (twice the patience): on Pub/Sub a pull abandoned by the suite's other reader of the same
            // subscription can hold a message until the ack deadline (30 s in the fixture), then it is redelivered.
            using var window = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            try
            {
                await foreach (var record in subscription.ReadAllAsync(window.Token))
                {
                    if (record.DeviceId != id) continue;
                    Assert.Equal("level", record.Metric);
                    values.Add(record.Value);
                    if (values.Count == Records + 1) window.CancelAfter(TimeSpan.FromSeconds(1));
                }
            }
            catch (OperationCanceledException) when (window.IsCancellationRequested)
            {
                // The window closed: after the settle time, or at the deadline (then the count below says what is missing).
            }
        }

        Assert.Equal(Enumerable.Range(-1, Records + 1).Select(i => (double)i), values.Order());
    }

    private async Task SendAsync(IDeviceConnection device, string id)
    {
        var start = DateTimeOffset.UtcNow;
        for (var i = 0; i < Records; i++)
            await device.SendTelemetryAsync(new TelemetryRecord(id, "level", i, start.AddMilliseconds(i)), Ct);
        await device.FlushAsync(Ct);
    }
}
