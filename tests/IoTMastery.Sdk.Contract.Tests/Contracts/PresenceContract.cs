using IoTMastery.Sdk.TestSupport;
namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// Presence through the neutral registry (<see cref="IDeviceRegistry.GetPresenceAsync"/> and its siblings): a device that connects is seen connected (where the provider can tell) within its
/// stated staleness, disconnected after it leaves, its last activity moves when it publishes, and events are streamed where
/// the capability says so (and refused with <see cref="NotSupportedException"/> where it does not).
/// </summary>
public abstract class PresenceContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    /// <summary>
    /// A stated staleness of zero means exact, but the provider's own event dispatch still runs on another thread: this much
    /// is allowed on top of any stated bound. Providers that state no bound get <see cref="ProviderFixture.Patience"/>.
    /// </summary>
    private static readonly TimeSpan Dispatch = TimeSpan.FromSeconds(2);

    private TimeSpan Bound => Provider.Capabilities.PresenceStaleness is { } stated ? stated + Dispatch : ProviderFixture.Patience;

    // AWS cannot answer for every device, but does for one whose lifecycle events it saw; GCP-style never can.
    private bool SeesConnections => Provider.Capabilities.PresenceConnectionState || Provider.Capabilities.PresenceEvents;

    [Fact]
    public async Task A_device_is_seen_connected_then_disconnected_point_and_fleet()
    {
        var registration = await RegisterAsync();
        var id = registration.Device.Id;
        var before = await Provider.Registry.GetPresenceAsync(id, Ct);
        Assert.Equal(id, before.DeviceId);
        Assert.Equal(Provider.Capabilities.PresenceStaleness, before.MaxStaleness);
        Assert.NotEqual(true, before.Connected);
        if (Provider.Capabilities.PresenceConnectionState) Assert.False(before.Connected);

        var device = await ConnectAsync(registration);
        if (!SeesConnections)
        {
            // The provider says it cannot tell; it must not pretend either way.
            Assert.Null((await Provider.Registry.GetPresenceAsync(id, Ct)).Connected);
            Assert.Null((await FindInFleetAsync(id)).Connected);
            return;
        }
        var connected = await WithinAsync(() => Provider.Registry.GetPresenceAsync(id, Ct), p => p.Connected == true, "point query sees the device connected");
        Assert.NotNull(connected.Since);
        await WithinAsync(() => FindInFleetAsync(id), p => p.Connected == true, "fleet query sees the device connected");

        await device.DisposeAsync();
        var gone = await WithinAsync(() => Provider.Registry.GetPresenceAsync(id, Ct), p => p.Connected == false, "point query sees the device disconnected");
        Assert.True(gone.Since >= connected.Since);
        await WithinAsync(() => FindInFleetAsync(id), p => p.Connected == false, "fleet query sees the device disconnected");
    }

    [Fact]
    public async Task Last_activity_moves_when_the_device_publishes()
    {
        var registration = await RegisterAsync();
        var id = registration.Device.Id;
        var device = await ConnectAsync(registration);

        await SendAsync(device, id, 1);
        var first = await WithinAsync(() => Provider.Registry.GetPresenceAsync(id, Ct), p => p.LastActivity is not null, "a last activity after the first publish");
        // The clouds' times are stamped in milliseconds or coarser; a later publish must land on a later stamp.
        await Task.Delay(50, Ct);
        await SendAsync(device, id, 2);
        var second = await WithinAsync(() => Provider.Registry.GetPresenceAsync(id, Ct), p => p.LastActivity > first.LastActivity, "the last activity moves on the next publish");
        Assert.True(second.LastActivity > first.LastActivity);
        await WithinAsync(() => FindInFleetAsync(id), p => p.LastActivity >= second.LastActivity, "the fleet query shows the same last activity");
    }

    [Fact]
    public async Task Events_stream_a_connect_and_a_disconnect_or_the_provider_says_it_cannot()
    {
        if (!Provider.Capabilities.PresenceEvents)
        {
            Assert.Throws<NotSupportedException>(() => Provider.Registry.ReadPresenceEventsAsync(Ct));
            return;
        }
        var registration = await RegisterAsync();
        var id = registration.Device.Id;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        stop.CancelAfter(ProviderFixture.Patience);
        var stream = Provider.Registry.ReadPresenceEventsAsync(stop.Token).GetAsyncEnumerator(stop.Token);
        // The first MoveNextAsync subscribes; events from then on reach this reader.
        var next = stream.MoveNextAsync().AsTask();
        var seen = new List<DevicePresence>();
        try
        {
            await Task.Delay(200, Ct);
            var device = await ConnectAsync(registration);
            await device.DisposeAsync();
            while (await next)
            {
                if (stream.Current.DeviceId == id) seen.Add(stream.Current);
                if (seen.Any(e => e.Connected == false)) break;
                next = stream.MoveNextAsync().AsTask();
            }
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            // Patience ran out; the assertion below says what was missing.
        }
        finally
        {
            await stop.CancelAsync();
            try { await next; } catch (OperationCanceledException) { /* the read we abandoned */ }
            await stream.DisposeAsync();
        }
        // An event is the state as of the change: connectivity and its time are always set.
        Assert.Equal<bool?>([true, false], seen.Select(e => e.Connected));
        Assert.All(seen, e => Assert.NotNull(e.Since));
        Assert.True(seen[1].Since >= seen[0].Since);
        Assert.Null(seen[0].DisconnectReason);
    }

    [Fact]
    public async Task Bad_ids_are_refused_before_the_network_and_unknown_devices_are_not_found()
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Provider.Registry.GetPresenceAsync("", Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Provider.Registry.GetPresenceAsync("bad id/with#chars", Ct));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.Registry.GetPresenceAsync(ProviderFixture.NewDeviceId("absent"), Ct));
        Assert.ThrowsAny<ArgumentException>(() => Provider.Registry.ListPresenceAsync(new DeviceQuery { PageSize = 0 }, Ct));
    }

    private async Task<DevicePresence> FindInFleetAsync(string id)
    {
        // Filtered by an attribute only this test's devices have would be cheaper; paging the whole registry also proves paging.
        await foreach (var page in Provider.Registry.ListPresenceAsync(new DeviceQuery { PageSize = 100 }, Ct).AsPages().WithCancellation(Ct))
        {
            if (page.Items.FirstOrDefault(p => p.DeviceId == id) is { } found) return found;
        }
        throw new Xunit.Sdk.XunitException($"Device {id} is not in the fleet listing.");
    }

    private async Task<T> WithinAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Not within {Bound.TotalSeconds} s ({Provider.Name}'s stated staleness and dispatch): {what}.");
            await Task.Delay(100, Ct);
        }
    }

    private async Task SendAsync(IDeviceConnection device, string id, double value)
    {
        await device.SendTelemetryAsync(new TelemetryRecord(id, "presence", value, DateTimeOffset.UtcNow), Ct);
        await device.FlushAsync(Ct);
    }
}
