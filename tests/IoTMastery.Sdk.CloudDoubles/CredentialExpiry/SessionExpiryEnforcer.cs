using System.Collections.Concurrent;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace IoTMastery.Sdk.CloudDoubles.CredentialExpiry;

/// <summary>One CONNECT as the peer judged it: when, whether it was accepted, and until when its credential is valid.</summary>
public sealed record CredentialConnect(string ClientId, DateTimeOffset At, bool Accepted, DateTimeOffset? ExpiresAt, string? Refusal);

/// <summary>A session the peer closed because its credential expired while it was connected.</summary>
public sealed record ExpiredSessionCut(string ClientId, DateTimeOffset At, DateTimeOffset ExpiredAt);

/// <summary>
/// What IoT Hub and the Cloud IoT bridge do with a time-limited credential after CONNECT: the session lives only until the
/// SAS <c>se</c> / JWT <c>exp</c>, then the peer closes it. Every CONNECT is logged with its verdict, so tests can prove a
/// renewal reconnected before the previous credential expired, and every cut is logged, so they can prove enforcement.
/// </summary>
public sealed class SessionExpiryEnforcer : IDisposable
{
    private readonly TimeProvider _time;
    private readonly Func<string, Task<bool>> _disconnect;
    private readonly ConcurrentQueue<CredentialConnect> _connects = new();
    private readonly ConcurrentQueue<ExpiredSessionCut> _cuts = new();
    private readonly ConcurrentDictionary<string, long> _latest = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, ITimer> _timers = new();
    private long _serial;
    private bool _disposed;

    /// <param name="time">The peer's clock: expiry is judged and scheduled on it.</param>
    /// <param name="disconnect">Closes a client's current session; true when one was open.</param>
    public SessionExpiryEnforcer(TimeProvider time, Func<string, Task<bool>> disconnect)
    {
        _time = time;
        _disconnect = disconnect;
    }

    /// <summary>
    /// Closes <paramref name="clientId"/>'s session on <paramref name="server"/> (null when it is not running) the way the
    /// clouds do on MQTT 3.1.1, which has no server DISCONNECT: the network connection is dropped. True when one was open.
    /// </summary>
    public static async Task<bool> CloseSessionAsync(MqttServer? server, string clientId, string reason)
    {
        if (server is null) return false;
        var client = (await server.GetClientsAsync().ConfigureAwait(false)).FirstOrDefault(c => c.Id == clientId);
        if (client is null) return false;
        await client.DisconnectAsync(new MqttServerClientDisconnectOptions { ReasonCode = MqttDisconnectReasonCode.NotAuthorized, ReasonString = reason }).ConfigureAwait(false);
        return true;
    }

    /// <summary>Every CONNECT judged so far, in order.</summary>
    public IReadOnlyList<CredentialConnect> Connects => _connects.ToList();

    /// <summary>Every session cut at expiry so far.</summary>
    public IReadOnlyList<ExpiredSessionCut> Cuts => _cuts.ToList();

    /// <summary>The peer's clock now.</summary>
    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Logs a refused CONNECT.</summary>
    public void Refused(string clientId, string reason) => _connects.Enqueue(new CredentialConnect(clientId, _time.GetUtcNow(), false, null, reason));

    /// <summary>Logs an accepted CONNECT and arms the cut at <paramref name="expiresAt"/> (a later CONNECT of the same client disarms it).</summary>
    public void Accepted(string clientId, DateTimeOffset expiresAt)
    {
        var now = _time.GetUtcNow();
        _connects.Enqueue(new CredentialConnect(clientId, now, true, expiresAt, null));
        var serial = Interlocked.Increment(ref _serial);
        _latest[clientId] = serial;
        Arm(clientId, serial, expiresAt);
    }

    private void Arm(string clientId, long serial, DateTimeOffset expiresAt)
    {
        var due = expiresAt - _time.GetUtcNow();
        if (due < TimeSpan.Zero) due = TimeSpan.Zero;
        lock (_timers)
        {
            if (_disposed) return;
            _timers[serial] = _time.CreateTimer(_ => _ = CutAsync(clientId, serial, expiresAt), null, due, Timeout.InfiniteTimeSpan);
        }
    }

    private async Task CutAsync(string clientId, long serial, DateTimeOffset expiresAt)
    {
        if (_timers.TryRemove(serial, out var timer)) timer.Dispose();
        // System timers may fire a few milliseconds early; the credential is valid until expiresAt.
        if (_time.GetUtcNow() < expiresAt)
        {
            Arm(clientId, serial, expiresAt);
            return;
        }
        // Only the session this credential opened: a renewal's newer CONNECT has its own expiry.
        if (!_latest.TryGetValue(clientId, out var latest) || latest != serial) return;
        try
        {
            if (await _disconnect(clientId).ConfigureAwait(false))
                _cuts.Enqueue(new ExpiredSessionCut(clientId, _time.GetUtcNow(), expiresAt));
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Disarms every pending cut.</summary>
    public void Dispose()
    {
        lock (_timers)
        {
            _disposed = true;
            foreach (var timer in _timers.Values) timer.Dispose();
            _timers.Clear();
        }
    }
}
