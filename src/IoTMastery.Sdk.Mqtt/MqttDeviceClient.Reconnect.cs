using Microsoft.Extensions.Logging;
using MQTTnet;

namespace IoTMastery.Sdk.Mqtt;

// Reconnecting after a drop: full-jitter backoff until connected again, disposed, or refused for good.
internal sealed partial class MqttDeviceClient
{
    private Task? _reconnectLoop;
    // Under _stateLock: a reconnect loop runs (it clears this in the same lock as its decision to finish), and a
    // connection it made dropped before it finished, so it must go on instead of finishing.
    private bool _reconnecting;
    private bool _reconnectPending;

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs e)
    {
        if (!e.ClientWasConnected) return Task.CompletedTask;
        // MQTTnet raises this on a background task after the disconnect finished, so it can arrive after a newer connection is
        // up (a renewal's reconnect): that connection is not the one that closed.
        if (_client.IsConnected) return Task.CompletedTask;
        bool reconnect;
        lock (_stateLock)
        {
            // The renewal's own DISCONNECT: RenewAsync raises Disconnected(willReconnect: true) itself. Judged by this flag, not by
            // _expectingDisconnect, because the event can come after DisconnectClientAsync returned and cleared that.
            if (_renewalReconnecting) return Task.CompletedTask;
            // A connection ConnectAsync closed itself because its subscriptions failed: ConnectAsync retries or reports it, and
            // the caller never saw it connected.
            if (_firstConnecting && !_connectionComplete) return Task.CompletedTask;
            // Not reconnecting means the client asked for this disconnect (DisconnectAsync or DisposeAsync cleared _started):
            // a normal close, not a fault.
            reconnect = _started && !_expectingDisconnect && !_disposed.IsCancellationRequested;
            if (reconnect) StartOrContinueReconnectLocked();
        }
        if (reconnect) Log.ConnectionLost(_logger, _options.ClientId, e.Reason);
        else Log.Disconnected(_logger, _options.ClientId);
        RaiseDisconnected(new MqttDisconnectedEventArgs(e.Exception, reconnect));
        return Task.CompletedTask;
    }

    /// <summary>Starts the reconnect loop, or tells the running one that its connection dropped. Call under <see cref="_stateLock"/>.</summary>
    private void StartOrContinueReconnectLocked()
    {
        if (_reconnecting)
        {
            _reconnectPending = true;
            return;
        }
        _reconnecting = true;
        _reconnectPending = false;
        _reconnectLoop = Task.Run(ReconnectLoopAsync);
    }

    /// <summary>Test hook: closes the connection without the client asking for it, as a dropped network or a broker restart does, so the reconnect loop runs.</summary>
    internal async Task DropConnectionForTestAsync()
    {
        // A normal DISCONNECT on the wire (MQTT 3.1.1 has no reason codes); the client did not expect it, so it reconnects.
        await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build()).ConfigureAwait(false);
    }

    /// <summary>Test hook: runs after a reconnect succeeded and before the loop decides to finish (to drop the connection in that window).</summary>
    internal Func<Task>? AfterReconnectForTest { get; set; }

    private async Task ReconnectLoopAsync()
    {
        var token = _disposed.Token;
        for (var attempt = 0; !token.IsCancellationRequested; attempt++)
        {
            try
            {
                await Task.Delay(BackoffDelay(attempt), _time, token).ConfigureAwait(false);
                lock (_stateLock)
                {
                    if (!_started)
                    {
                        _reconnecting = false;
                        return;
                    }
                }
                await ConnectCoreAsync(throwOnSubscriptionRefusal: false, token).ConfigureAwait(false);
                Diagnostics.SdkInstruments.CountReconnect(_provider);
                if (AfterReconnectForTest is { } hook) await hook().ConfigureAwait(false);
                lock (_stateLock)
                {
                    // A drop right after this connect found this loop still running and started no other: go on, or the client stays down for good.
                    if ((!_reconnectPending && _client.IsConnected) || !_started)
                    {
                        _reconnecting = false;
                        return;
                    }
                    _reconnectPending = false;
                }
                attempt = -1;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                lock (_stateLock) _reconnecting = false;
                return;
            }
            catch (IoTException ex) when (!ex.IsTransient)
            {
                // An authentication refusal or an untrusted server will not fix itself: stop and surface it.
                lock (_stateLock)
                {
                    TerminalError = ex;
                    _started = false;
                    _reconnecting = false;
                }
                Log.StoppedReconnecting(_logger, _options.ClientId, ErrorText.Name(ex));
                RaiseDisconnected(new MqttDisconnectedEventArgs(ex, willReconnect: false));
                return;
            }
            catch (Exception ex)
            {
                Log.ReconnectAttemptFailed(_logger, _options.ClientId, attempt + 1, ErrorText.Name(ex));
            }
        }
    }

    /// <summary>Full jitter: a uniform delay below min(max, base·2^attempt), so a fleet does not reconnect in lockstep.</summary>
    internal TimeSpan BackoffDelay(int attempt)
    {
        var cap = _options.ReconnectBaseDelay.Ticks * Math.Pow(2, Math.Min(attempt, 30));
        var bounded = Math.Min(cap, _options.ReconnectMaxDelay.Ticks);
        return TimeSpan.FromTicks((long)(Random.Shared.NextDouble() * bounded));
    }
}
