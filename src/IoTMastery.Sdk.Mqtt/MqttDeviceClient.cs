using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Exceptions;

namespace IoTMastery.Sdk.Mqtt;

/// <summary>
/// A device's MQTT connection over TLS 1.2+ (mutual TLS when a client certificate is set), shared by
/// every provider. After a connection drops it reconnects with full-jitter exponential backoff and
/// restores its subscriptions; it stops for good when the broker refuses the credentials. A planned credential renewal
/// is graceful: new publishes wait for the new connection and publishes in flight get their acknowledgement first.
/// Errors surface as <see cref="IoTException"/>, never as MQTTnet exceptions. Thread-safe.
/// </summary>
// One file per responsibility: this one the lifecycle (connect with retries, disconnect, dispose) and the shared state;
// .Connect (one attempt, TLS checks, error mapping), .Reconnect, .Renewal, .Publish (the publish window) and .Subscriptions.
internal sealed partial class MqttDeviceClient : IAsyncDisposable
{
    private readonly MqttDeviceClientOptions _options;
    private readonly string _provider;

    /// <summary>The provider name given at construction; put on errors and on the telemetry pipeline's metrics.</summary>
    internal string Provider => _provider;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly CancellationTokenSource _disposed = new();
    private readonly Task _dispatchLoop;
    private readonly Lock _stateLock = new();
    // Bumped on every successful connect (under _connectGate): a renewal skips its reconnect when another one already brought a fresh credential.
    private long _connectionGeneration;
    private bool _started;
    private bool _expectingDisconnect;
    // Under _stateLock: ConnectAsync is making its attempts, and whether the latest connection completed (subscriptions included).
    private bool _firstConnecting;
    private bool _connectionComplete;

    /// <summary>Creates a client; call <see cref="ConnectAsync"/> to connect.</summary>
    /// <param name="options">The connection settings; validated here.</param>
    /// <param name="provider">The provider name put on errors, for example <c>Local</c>.</param>
    /// <param name="timeProvider">The clock for backoff delays and credential renewal; the system clock by default.</param>
    /// <param name="logger">Where connection events are logged; never receives secrets.</param>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public MqttDeviceClient(MqttDeviceClientOptions options, string provider = "Mqtt", TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(provider);
        options.Validate();
        _options = options;
        _provider = provider;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageReceivedAsync;
        _client.DisconnectedAsync += OnDisconnectedAsync;
        _dispatchLoop = Task.Run(DispatchLoopAsync);
    }

    /// <summary>Raised after every successful connect and reconnect, once subscriptions are restored.</summary>
    public event EventHandler? Connected;

    /// <summary>Raised when a connection is lost, and when the client stops reconnecting (then <see cref="MqttDisconnectedEventArgs.WillReconnect"/> is false).</summary>
    public event EventHandler<MqttDisconnectedEventArgs>? Disconnected;

    /// <summary>The client id.</summary>
    public string ClientId => _options.ClientId;

    /// <summary>Whether the client is connected now.</summary>
    public bool IsConnected => _client.IsConnected;

    /// <summary>The error that made the client stop reconnecting (for example an authentication refusal), if any.</summary>
    public IoTException? TerminalError { get; private set; }

    /// <summary>
    /// Connects and subscribes to every filter registered so far. An attempt that fails transiently (broker unreachable, busy
    /// or too slow) is retried with full-jitter backoff within <see cref="MqttDeviceClientOptions.ConnectRetryBudget"/>.
    /// After a later drop the client reconnects on its own until disposed. Returns at once when already connected.
    /// </summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.Authentication"/>: The broker refused the credentials, or demanded a client certificate when neither a certificate nor a password is configured; never retried.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.Authorization"/>: The broker refused a subscription.</exception>
    /// <exception cref="IoTException">The broker stayed unreachable for the whole budget (<see cref="IoTException.IsTransient"/>) or its certificate is not trusted.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled, also while waiting to retry.</exception>
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        lock (_stateLock)
        {
            _started = true;
            TerminalError = null;
        }
        var began = _time.GetTimestamp();
        lock (_stateLock) _firstConnecting = true;
        try
        {
            await ConnectWithRetriesAsync(began, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_stateLock) _firstConnecting = false;
        }
    }

    private async Task ConnectWithRetriesAsync(long began, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await ConnectCoreAsync(throwOnSubscriptionRefusal: true, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (IoTException ex) when (ex.IsTransient)
            {
                // A fleet that connects at once must not retry in lockstep: the same full jitter as reconnects.
                var delay = BackoffDelay(attempt);
                bool stopped;
                lock (_stateLock) stopped = !_started;
                if (stopped || _time.GetElapsedTime(began) + delay >= _options.ConnectRetryBudget) throw;
                Log.ConnectRetrying(_logger, _options.ClientId, attempt + 1, ErrorText.Name(ex), delay);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
                await Task.Delay(delay, _time, linked.Token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Disconnects cleanly and stops reconnecting; <see cref="ConnectAsync"/> may be called again.</summary>
    public async Task DisconnectAsync(CancellationToken cancellationToken = default)
    {
        lock (_stateLock) _started = false;
        _renewalTimer?.Dispose();
        await _connectGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await DisconnectClientAsync().ConfigureAwait(false);
        }
        finally
        {
            _connectGate.Release();
        }
    }

    /// <summary>Disconnects, stops reconnecting and releases the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested) return;
        lock (_stateLock) _started = false;
        _renewalTimer?.Dispose();
        await _disposed.CancelAsync().ConfigureAwait(false);
        _inbox.Writer.TryComplete();
        await _connectGate.WaitAsync().ConfigureAwait(false);
        try
        {
            await DisconnectClientAsync().ConfigureAwait(false);
        }
        finally
        {
            _connectGate.Release();
        }
        try { await _dispatchLoop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        if (_reconnectLoop is { } loop)
        {
            try { await loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        _client.Dispose();
        _disposed.Dispose();
    }

    private async Task DisconnectClientAsync()
    {
        if (!_client.IsConnected) return;
        lock (_stateLock) _expectingDisconnect = true;
        try
        {
            using var timeout = new CancellationTokenSource(_options.ConnectTimeout);
            await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            Log.DisconnectNotClean(_logger, _options.ClientId, ErrorText.Name(ex));
        }
        finally
        {
            lock (_stateLock) _expectingDisconnect = false;
        }
    }

    private IoTException NotConnected() =>
        TerminalError is { } terminal
            ? new IoTException(IoTErrorKind.Unknown, $"MQTT client '{_options.ClientId}' stopped reconnecting: {terminal.Message}", _provider, "NotConnected", isTransient: false, innerException: terminal)
            : new IoTException(IoTErrorKind.Unknown, $"MQTT client '{_options.ClientId}' is not connected.", _provider, "NotConnected", isTransient: true);

    private void RaiseConnected()
    {
        try { Connected?.Invoke(this, EventArgs.Empty); }
        catch (Exception ex) { Log.EventHandlerFailed(_logger, ex, _options.ClientId, nameof(Connected)); }
    }

    private void RaiseDisconnected(MqttDisconnectedEventArgs args)
    {
        try { Disconnected?.Invoke(this, args); }
        catch (Exception ex) { Log.EventHandlerFailed(_logger, ex, _options.ClientId, nameof(Disconnected)); }
    }
}
