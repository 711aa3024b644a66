using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Local.Tests.Provider;

/// <summary>
/// The silence and offline rules fed by a real provider: presence events from the embedded broker and telemetry from real device
/// connections drive the monitor; only the monitor's clock is fake, so "two minutes later" costs no wall-clock time.
/// </summary>
public sealed class LocalHealthMonitorTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private LocalIoTProvider _provider = null!;

    public async Task InitializeAsync() => _provider = await LocalIoTProvider.StartAsync().WaitAsync(Timeout);

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    private async Task<IDeviceConnection> ConnectAsync(string id)
    {
        var registration = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 }).WaitAsync(Timeout);
        var device = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registration.Credential! });
        await device.ConnectAsync().WaitAsync(Timeout);
        return device;
    }

    [Fact]
    public async Task A_silent_connected_device_and_an_offline_device_each_raise_their_own_alert_once_and_clear()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        AlertRule silence = AlertRule.Silence(TimeSpan.FromSeconds(90), cooldown: TimeSpan.Zero), offline = AlertRule.Offline(TimeSpan.FromSeconds(60), cooldown: TimeSpan.Zero);
        var monitor = new AlertMonitor([silence, offline], clock);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var records = 0;
        var quietGone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var presencePump = Task.Run(async () =>
        {
            await foreach (var e in _provider.Registry.ReadPresenceEventsAsync(cts.Token))
            {
                monitor.Observe(e);
                if (e is { DeviceId: "hm-gone", Connected: false }) quietGone.TrySetResult();
            }
        });
        var telemetryPump = Task.Run(async () =>
        {
            await foreach (var r in _provider.Telemetry.ReadAllAsync(cts.Token))
            {
                monitor.Process([r]);
                Interlocked.Increment(ref records);
            }
        });
        await Task.Delay(200, cts.Token); // both readers subscribed

        await using var silent = await ConnectAsync("hm-silent");
        var gone = await ConnectAsync("hm-gone");
        await silent.SendTelemetryAsync(new TelemetryRecord("hm-silent", "t", 1, DateTimeOffset.UtcNow));
        await silent.FlushAsync().WaitAsync(Timeout);
        await gone.SendTelemetryAsync(new TelemetryRecord("hm-gone", "t", 1, DateTimeOffset.UtcNow));
        await gone.FlushAsync().WaitAsync(Timeout);
        await gone.DisposeAsync();
        await quietGone.Task.WaitAsync(Timeout);
        while (Volatile.Read(ref records) < 2) await Task.Delay(20, cts.Token);

        clock.Advance(TimeSpan.FromMinutes(2));
        var raised = monitor.Evaluate().OrderBy(a => a.DeviceId).Select(a => (a.Cleared, a.DeviceId, a.Rule.Name)).ToList();
        // The disconnected device is reported offline, not also silent; the connected one is silent.
        Assert.Equal([(false, "hm-gone", "offline"), (false, "hm-silent", "silence")], raised);
        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Empty(monitor.Evaluate());

        await silent.SendTelemetryAsync(new TelemetryRecord("hm-silent", "t", 2, DateTimeOffset.UtcNow));
        await silent.FlushAsync().WaitAsync(Timeout);
        while (monitor.IsRaised("hm-silent", silence) && !cts.IsCancellationRequested) await Task.Delay(20, cts.Token);
        await using var back = await ConnectAsync2("hm-gone");
        while (monitor.IsRaised("hm-gone", offline) && !cts.IsCancellationRequested) await Task.Delay(20, cts.Token);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => presencePump);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => telemetryPump);
    }

    // A second connection of a registered device needs a fresh credential: the first one's key stayed with that connection.
    private async Task<IDeviceConnection> ConnectAsync2(string id)
    {
        var credential = await _provider.Registry.IssueCredentialAsync(id, CredentialRequest.X509).WaitAsync(Timeout);
        var device = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = credential });
        await device.ConnectAsync().WaitAsync(Timeout);
        return device;
    }
}
