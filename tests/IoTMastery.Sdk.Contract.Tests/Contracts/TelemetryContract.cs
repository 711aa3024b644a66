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
            return;
        }

        var values = new List<double>();
        // Live on the peer when it returns: no delay before the device sends.
        await using (var subscription = await Provider.Telemetry.SubscribeAsync(Ct))
        {
            await SendAsync(device, id);

            // Read until N of this device's records arrived, then a little longer to catch duplicates.
            using var window = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            window.CancelAfter(ProviderFixture.Patience);
            try
            {
                await foreach (var record in subscription.ReadAllAsync(window.Token))
                {
                    if (record.DeviceId != id) continue;
                    Assert.Equal("level", record.Metric);
                    values.Add(record.Value);
                    if (values.Count == Records) window.CancelAfter(TimeSpan.FromSeconds(1));
                }
            }
            catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
            {
                // The window closed: after the settle time, or at the deadline (then the count below says what is missing).
            }
        }

        Assert.Equal(Enumerable.Range(0, Records).Select(i => (double)i), values.Order());
    }

    [Fact]
    public async Task A_record_sent_right_after_SubscribeAsync_returns_is_received()
    {
        var registration = await RegisterAsync();
        var id = registration.Device.Id;
        var device = await ConnectAsync(registration);
        if (!Provider.Capabilities.TelemetryConsumption)
        {
            await Assert.ThrowsAsync<NotSupportedException>(() => Provider.Telemetry.SubscribeAsync(Ct));
            return;
        }

        await using var subscription = await Provider.Telemetry.SubscribeAsync(Ct);
        // At once: no delay, no priming read. If the subscription were not yet live on the peer, this record would be lost.
        await device.SendTelemetryAsync(new TelemetryRecord(id, "first", 42, DateTimeOffset.UtcNow), Ct);
        await device.FlushAsync(Ct);

        // Bounded by the test's whole deadline (twice the patience), not one patience: on Pub/Sub a pull that an earlier
        // reader of the same subscription abandoned can be handed this message, which then returns only after the
        // subscription's ack deadline (30 s in the fixture). Received late that way is still received.
        TelemetryRecord? received = null;
        await foreach (var record in subscription.ReadAllAsync(Ct))
        {
            if (record.DeviceId != id) continue;
            received = record;
            break;
        }
        Assert.Equal(("first", 42.0), (received?.Metric, received?.Value));
    }

    private async Task SendAsync(IDeviceConnection device, string id)
    {
        var start = DateTimeOffset.UtcNow;
        for (var i = 0; i < Records; i++)
            await device.SendTelemetryAsync(new TelemetryRecord(id, "level", i, start.AddMilliseconds(i)), Ct);
        await device.FlushAsync(Ct);
    }
}
