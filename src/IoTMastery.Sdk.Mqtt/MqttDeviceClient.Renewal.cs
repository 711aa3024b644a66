using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Mqtt;

// Credential renewal: a planned reconnect before the credential expires, draining publishes in flight first.
internal sealed partial class MqttDeviceClient
{
    private ITimer? _renewalTimer;

    // Under _stateLock: a renewal is between its own DISCONNECT and the end of its reconnect.
    private bool _renewalReconnecting;

    private void ScheduleRenewal(MqttCredentials? credentials)
    {
        _renewalTimer?.Dispose();
        _renewalTimer = null;
        if (credentials?.ExpiresAt is not { } expiresAt) return;
        var remaining = expiresAt - _time.GetUtcNow();
        var due = remaining - _options.CredentialRenewalMargin;
        if (due <= TimeSpan.Zero)
        {
            // A fresh credential that lives no longer than the margin would renew right after every connect, in a tight
            // loop: renew at half its remaining life instead (never sooner than the reconnect base delay) and say so.
            due = TimeSpan.FromTicks(Math.Max(remaining.Ticks / 2, _options.ReconnectBaseDelay.Ticks));
            Log.CredentialWithinMargin(_logger, _options.ClientId, remaining, _options.CredentialRenewalMargin, due);
        }
        _renewalTimer = _time.CreateTimer(_ => _ = RenewAsync(expiresAt), null, due, Timeout.InfiniteTimeSpan);
    }

    // Renewal is a reconnect: MQTT has no way to swap credentials on a live connection. Planned, so graceful: new
    // publishes wait, publishes in flight get their PUBACK (bounded, see DrainBound), then a clean DISCONNECT and CONNECT.
    private async Task RenewAsync(DateTimeOffset expiresAt)
    {
        var generation = Interlocked.Read(ref _connectionGeneration);
        RenewalWindow renewal;
        lock (_stateLock)
        {
            if (!_started || _disposed.IsCancellationRequested || _renewal is not null) return;
            renewal = _renewal = new RenewalWindow();
            if (_inFlight == 0) renewal.Drained.TrySetResult();
        }
        try
        {
            await DrainInFlightAsync(renewal, expiresAt).ConfigureAwait(false);
            await _connectGate.WaitAsync(_disposed.Token).ConfigureAwait(false);
            try
            {
                // A reconnect after a drop while this renewal drained already fetched a fresh credential, and a stopped client stays stopped.
                lock (_stateLock)
                {
                    if (!_started || Interlocked.Read(ref _connectionGeneration) != generation) return;
                    _renewalReconnecting = true;
                }
                await DisconnectClientAsync().ConfigureAwait(false);
            }
            finally
            {
                _connectGate.Release();
            }
            RaiseDisconnected(new MqttDisconnectedEventArgs(null, willReconnect: true));
            await ConnectCoreAsync(throwOnSubscriptionRefusal: false, _disposed.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_disposed.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.RenewalReconnectFailed(_logger, _options.ClientId, ErrorText.Name(ex));
            lock (_stateLock)
            {
                if (_started) StartOrContinueReconnectLocked();
            }
        }
        finally
        {
            // Waiting publishes go on: on the new connection, or fail as not connected (transient) while the reconnect loop runs.
            lock (_stateLock)
            {
                _renewal = null;
                _renewalReconnecting = false;
            }
            renewal.Ended.TrySetResult();
        }
    }

    private async Task DrainInFlightAsync(RenewalWindow renewal, DateTimeOffset expiresAt)
    {
        var bound = DrainBound(expiresAt);
        if (renewal.Drained.Task.IsCompleted || bound <= TimeSpan.Zero) return;
        try
        {
            await renewal.Drained.Task.WaitAsync(bound, _time, _disposed.Token).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            int left;
            lock (_stateLock) left = _inFlight;
            Log.RenewalDrainTimedOut(_logger, _options.ClientId, left, bound);
        }
    }

    /// <summary>
    /// How long a renewal waits for the PUBACKs of publishes in flight: at most half the credential's remaining life, so the
    /// other half is left for DISCONNECT, a fresh credential and CONNECT before expiry, and at most OperationTimeout, after
    /// which those publishes fail on their own anyway. Zero when the credential already expired.
    /// </summary>
    internal TimeSpan DrainBound(DateTimeOffset expiresAt)
    {
        var remaining = expiresAt - _time.GetUtcNow();
        if (remaining <= TimeSpan.Zero) return TimeSpan.Zero;
        var half = remaining / 2;
        return half < _options.OperationTimeout ? half : _options.OperationTimeout;
    }

    /// <summary>One planned renewal: signalled when the publishes in flight finished, and when the renewal is over.</summary>
    private sealed class RenewalWindow
    {
        public TaskCompletionSource Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
