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

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var values = new List<double>();
        var stream = Provider.Telemetry.ReadAllAsync(stop.Token).GetAsyncEnumerator(stop.Token);
        // The first MoveNextAsync subscribes the reader; only then do records sent from now on reach it.
        var next = stream.MoveNextAsync().AsTask();
        try
        {
            await Task.Delay(200, Ct);
            await SendAsync(device, id);

            // Read until N of this device's records arrived, then a little longer to catch duplicates.
            var deadline = DateTime.UtcNow + ProviderFixture.Patience;
            DateTime? settle = null;
            while (true)
            {
                var limit = (settle ?? deadline) - DateTime.UtcNow;
                if (limit <= TimeSpan.Zero) break;
                bool more;
                try
                {
                    more = await next.WaitAsync(limit, Ct);
                }
                catch (TimeoutException)
                {
                    break;
                }
                if (!more) break;
                if (stream.Current.DeviceId == id)
                {
                    Assert.Equal("level", stream.Current.Metric);
                    values.Add(stream.Current.Value);
                    if (values.Count == Records) settle = DateTime.UtcNow + TimeSpan.FromSeconds(1);
                }
                next = stream.MoveNextAsync().AsTask();
            }
        }
        finally
        {
            // An async iterator cannot be disposed while a MoveNextAsync is pending: cancel it and let it finish first.
            await stop.CancelAsync();
            try { await next; } catch (OperationCanceledException) { /* the read we abandoned */ }
            await stream.DisposeAsync();
        }

        Assert.Equal(Enumerable.Range(0, Records).Select(i => (double)i), values.Order());
    }

    private async Task SendAsync(IDeviceConnection device, string id)
    {
        var start = DateTimeOffset.UtcNow;
        for (var i = 0; i < Records; i++)
            await device.SendTelemetryAsync(new TelemetryRecord(id, "level", i, start.AddMilliseconds(i)), Ct);
        await device.FlushAsync(Ct);
    }
}
