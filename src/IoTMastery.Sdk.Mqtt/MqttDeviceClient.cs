using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace IoTMastery.Sdk.Mqtt;

/// <summary>
/// A device's MQTT connection over TLS 1.2+ (mutual TLS when a client certificate is set), shared by
/// every provider. After a connection drops it reconnects with full-jitter exponential backoff and
/// restores its subscriptions; it stops for good when the broker refuses the credentials. A planned credential renewal
/// is graceful: new publishes wait for the new connection and publishes in flight get their acknowledgement first.
/// Errors surface as <see cref="IoTException"/>, never as MQTTnet exceptions. Thread-safe.
/// </summary>
public sealed class MqttDeviceClient : IAsyncDisposable
{
    private readonly MqttDeviceClientOptions _options;
    private readonly string _provider;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly ConcurrentDictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly Channel<MqttIncomingMessage> _inbox = Channel.CreateUnbounded<MqttIncomingMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _disposed = new();
    private readonly Task _dispatchLoop;
    private readonly Lock _stateLock = new();
    private Task? _reconnectLoop;
    // Under _stateLock: a reconnect loop runs (it clears this in the same lock as its decision to finish), and a
    // connection it made dropped before it finished, so it must go on instead of finishing.
    private bool _reconnecting;
    private bool _reconnectPending;
    private ITimer? _renewalTimer;
    // Under _stateLock: publishes admitted and not yet finished, and the planned renewal now closing the connection (null when none).
    private int _inFlight;
    private RenewalWindow? _renewal;
    // Bumped on every successful connect (under _connectGate): a renewal skips its reconnect when another one already brought a fresh credential.
    private long _connectionGeneration;
    private bool _started;
    private bool _expectingDisconnect;
    // Under _stateLock: a renewal is between its own DISCONNECT and the end of its reconnect.
    private bool _renewalReconnecting;
    // Under _stateLock: ConnectAsync is making its attempts, and whether the latest connection completed (subscriptions included).
    private bool _firstConnecting;
    private bool _connectionComplete;
    private string? _serverCertificateProblem;
    // Set during a connect attempt when the server requested a client certificate and the options have none.
    private volatile bool _serverAskedForCertificate;

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
    /// <exception cref="IoTAuthenticationException">The broker refused the credentials, or demanded a client certificate when neither a certificate nor a password is configured; never retried.</exception>
    /// <exception cref="IoTAuthorizationException">The broker refused a subscription.</exception>
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
                _logger.LogDebug("MQTT client {ClientId}: connect attempt {Attempt} failed with {ErrorCode} ({Message}); retrying in {Delay}.", _options.ClientId, attempt + 1, ex.ErrorCode, ex.Message, delay);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
                await Task.Delay(delay, _time, linked.Token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Publishes a message. For QoS 1 it completes when the broker acknowledged it. While a credential renewal closes the
    /// connection, the publish waits for the new connection; waiting and acknowledgement together take at most
    /// <see cref="MqttDeviceClientOptions.OperationTimeout"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The topic is empty, too long or contains wildcards.</exception>
    /// <exception cref="IoTException">Not connected or no acknowledgement in time (transient), or the broker rejected the message.</exception>
    /// <exception cref="IoTAuthorizationException">The broker refused the topic (MQTT 5 only; MQTT 3.1.1 brokers drop silently).</exception>
    public async Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, MqttQualityOfService qos = MqttQualityOfService.AtLeastOnce,
        bool retain = false, CancellationToken cancellationToken = default)
    {
        ValidateTopic(topic);
        if (!Enum.IsDefined(qos)) throw new ArgumentOutOfRangeException(nameof(qos), qos, "QoS must be AtMostOnce or AtLeastOnce.");
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);

        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            // A copy: callers (the telemetry pipeline) reuse their buffer once this call returns, even on timeout.
            .WithPayload(payload.ToArray())
            .WithQualityOfServiceLevel((MqttQualityOfServiceLevel)qos)
            .WithRetainFlag(retain)
            .Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        timeout.CancelAfter(_options.OperationTimeout);
        try
        {
            await EnterPublishAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            // Nothing was sent, so the caller may safely send it again.
            throw new IoTException($"Publish to '{topic}' waited {_options.OperationTimeout.TotalSeconds:0.###} s for the credential renewal to reconnect.", _provider, "NotConnected", isTransient: true, innerException: ex);
        }
        MqttClientPublishResult result;
        try
        {
            if (!_client.IsConnected) throw NotConnected();
            result = await _client.PublishAsync(message, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            throw new IoTException($"Publish to '{topic}' was not acknowledged within {_options.OperationTimeout.TotalSeconds:0.###} s.", _provider, "PublishTimeout", isTransient: true, innerException: ex);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or MqttClientNotConnectedException or MqttClientDisconnectedException or ObjectDisposedException or IOException)
        {
            throw new IoTException($"Publish to '{topic}' failed: the connection was lost.", _provider, "Disconnected", isTransient: true, innerException: ex);
        }
        finally
        {
            ExitPublish();
        }
        if (result.IsSuccess) return;
        if (result.ReasonCode == MqttClientPublishReasonCode.NotAuthorized)
            throw new IoTAuthorizationException($"The broker refused publishing to '{topic}'.", _provider, result.ReasonCode.ToString());
        var transient = result.ReasonCode is MqttClientPublishReasonCode.QuotaExceeded or MqttClientPublishReasonCode.UnspecifiedError or MqttClientPublishReasonCode.ImplementationSpecificError;
        throw new IoTException($"The broker rejected the publish to '{topic}': {result.ReasonCode}.", _provider, result.ReasonCode.ToString(), transient);
    }

    /// <summary>
    /// Subscribes <paramref name="handler"/> to <paramref name="topicFilter"/>, now if connected and again after
    /// every reconnect. Handlers run one at a time, in arrival order, off the network loop; an exception
    /// from a handler is logged and does not stop delivery.
    /// </summary>
    /// <exception cref="ArgumentException">The filter is malformed or already subscribed.</exception>
    /// <exception cref="IoTAuthorizationException">The broker refused the subscription.</exception>
    public async Task SubscribeAsync(string topicFilter, MqttMessageHandler handler, MqttQualityOfService qos = MqttQualityOfService.AtLeastOnce,
        CancellationToken cancellationToken = default)
    {
        ValidateFilter(topicFilter);
        ArgumentNullException.ThrowIfNull(handler);
        if (!Enum.IsDefined(qos)) throw new ArgumentOutOfRangeException(nameof(qos), qos, "QoS must be AtMostOnce or AtLeastOnce.");
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        var subscription = new Subscription(topicFilter, handler, qos);
        if (!_subscriptions.TryAdd(topicFilter, subscription))
            throw new ArgumentException($"'{topicFilter}' is already subscribed.", nameof(topicFilter));
        if (!_client.IsConnected) return;
        try
        {
            await SendSubscribeAsync([subscription], cancellationToken).ConfigureAwait(false);
        }
        catch (IoTAuthorizationException)
        {
            _subscriptions.TryRemove(topicFilter, out _);
            throw;
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

    private async Task ConnectCoreAsync(bool throwOnSubscriptionRefusal, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        await _connectGate.WaitAsync(linked.Token).ConfigureAwait(false);
        try
        {
            if (_client.IsConnected) return;
            var credentials = _options.CredentialProvider is { } provide ? await provide(linked.Token).ConfigureAwait(false) : null;
            var options = BuildOptions(credentials);
            linked.CancelAfter(_options.ConnectTimeout);
            _serverCertificateProblem = null;
            _serverAskedForCertificate = false;
            lock (_stateLock) _connectionComplete = false;
            MqttClientConnectResult result;
            try
            {
                result = await _client.ConnectAsync(options, linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not IoTException)
            {
                if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested) throw;
                throw MapConnectFailure(ex);
            }
            if (result.ResultCode != MqttClientConnectResultCode.Success)
                throw MapRefusal(result.ResultCode);
            _logger.LogInformation("MQTT client {ClientId} connected to {Host}:{Port}.", _options.ClientId, _options.Host, _options.Port);
            try
            {
                await SendSubscribeAsync(_subscriptions.Values.ToList(), linked.Token).ConfigureAwait(false);
            }
            catch (IoTAuthorizationException ex) when (!throwOnSubscriptionRefusal)
            {
                _logger.LogWarning("MQTT client {ClientId}: a subscription was refused after reconnecting: {Message}", _options.ClientId, ex.Message);
            }
            catch (Exception ex) when (ex is IoTException { IsTransient: true } or OperationCanceledException)
            {
                // Connected but not subscribed is not connected: close, so the next attempt (a retry or the caller's) subscribes
                // again instead of finding a live connection and returning early without the subscriptions.
                await DisconnectClientAsync().ConfigureAwait(false);
                if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested && !_disposed.IsCancellationRequested)
                    throw new IoTException($"The broker did not acknowledge the subscriptions of '{_options.ClientId}' within the connect timeout.", _provider, "ConnectTimeout", isTransient: true, innerException: ex);
                throw;
            }
            Interlocked.Increment(ref _connectionGeneration);
            lock (_stateLock) _connectionComplete = true;
            ScheduleRenewal(credentials);
        }
        finally
        {
            _connectGate.Release();
        }
        RaiseConnected();
    }

    private MqttClientOptions BuildOptions(MqttCredentials? credentials)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Host, _options.Port)
            .WithClientId(_options.ClientId)
            .WithProtocolVersion(_options.Version == MqttVersion.Mqtt5 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(_options.ConnectTimeout)
            .WithCleanSession(_options.CleanSession)
            .WithTlsOptions(tls =>
            {
                tls.UseTls()
                    .WithSslProtocols(SslProtocols.Tls12 | SslProtocols.Tls13)
                    .WithTargetHost(_options.Host)
                    .WithCertificateValidationHandler(ValidateServerCertificate);
                if (_options.ClientCertificate is { } certificate)
                    tls.WithClientCertificates([certificate]);
                else if (_options.CredentialProvider is null)
                    // No credential at all: notice whether the server asks for a certificate. Password clients (SAS, JWT) are left
                    // out, since servers such as IoT Hub ask for one optionally and their drops must stay transient.
                    tls.WithCertificateSelectionHandler(NoClientCertificate);
                if (_options.ApplicationProtocols is { Count: > 0 } alpn)
                    tls.WithApplicationProtocols(alpn.ToList());
            });
        if (credentials is not null)
            builder.WithCredentials(credentials.UserName, credentials.Password);
        return builder.Build();
    }

    // Custom-root chain check plus the host-name check SslStream already did; validation cannot be turned off.
    private bool ValidateServerCertificate(MqttClientCertificateValidationEventArgs args)
    {
        if (args.Certificate is null || args.SslPolicyErrors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return Reject("the server sent no certificate");
        if (args.SslPolicyErrors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            return Reject($"it is not issued for '{_options.Host}'");
        if (_options.TrustedRoots is not { Count: > 0 } roots)
            return args.SslPolicyErrors == SslPolicyErrors.None || Reject($"chain errors ({args.SslPolicyErrors})");

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        if (args.Chain is not null)
        {
            foreach (var element in args.Chain.ChainElements)
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        var certificate = args.Certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(args.Certificate.GetRawCertData());
        if (!chain.Build(certificate))
            return Reject("it does not chain to a trusted root: " + string.Join(", ", chain.ChainStatus.Select(s => s.Status)));
        return true;

        bool Reject(string reason)
        {
            _serverCertificateProblem = reason;
            return false;
        }
    }

    // Called by SslStream when the handshake starts and again, with the server's certificate, if the server asks for a client certificate.
    private X509Certificate? NoClientCertificate(MqttClientCertificateSelectionEventArgs args)
    {
        if (args.RemoveCertificate is not null) _serverAskedForCertificate = true;
        return null;
    }

    private IoTException MapConnectFailure(Exception ex)
    {
        if (_serverCertificateProblem is { } problem)
            return new IoTException($"The server certificate of {_options.Host}:{_options.Port} was rejected: {problem}.", _provider, "ServerCertificateUntrusted", isTransient: false, innerException: ex);
        // The broker asked for a client certificate, got none (and no password follows) and closed the connection: during the
        // handshake under TLS 1.2, at the first read under TLS 1.3. A misconfiguration no retry fixes, so not transient.
        if (_serverAskedForCertificate && ex is not (OperationCanceledException or MqttCommunicationTimedOutException))
            return new IoTAuthenticationException($"{_options.Host}:{_options.Port} requires a client certificate and none is configured for '{_options.ClientId}'.", _provider, "ClientCertificateRequired", ex);
        if (ex is OperationCanceledException or MqttCommunicationTimedOutException)
            return new IoTException($"Connecting to {_options.Host}:{_options.Port} timed out.", _provider, "ConnectTimeout", isTransient: true, innerException: ex);
        return new IoTException($"Could not connect to {_options.Host}:{_options.Port}: {Describe(ex)}.", _provider, "ConnectFailed", isTransient: true, innerException: ex);
    }

    private IoTException MapRefusal(MqttClientConnectResultCode code)
    {
        if (code is MqttClientConnectResultCode.NotAuthorized or MqttClientConnectResultCode.BadUserNameOrPassword
            or MqttClientConnectResultCode.Banned or MqttClientConnectResultCode.BadAuthenticationMethod or MqttClientConnectResultCode.ClientIdentifierNotValid)
            return new IoTAuthenticationException($"The broker refused the connection of '{_options.ClientId}': {code}.", _provider, code.ToString());
        var transient = code is MqttClientConnectResultCode.ServerUnavailable or MqttClientConnectResultCode.ServerBusy or MqttClientConnectResultCode.UnspecifiedError
            or MqttClientConnectResultCode.QuotaExceeded or MqttClientConnectResultCode.ConnectionRateExceeded or MqttClientConnectResultCode.UseAnotherServer or MqttClientConnectResultCode.ServerMoved;
        return new IoTException($"The broker refused the connection of '{_options.ClientId}': {code}.", _provider, code.ToString(), transient);
    }

    // Only exception types and socket messages: TLS exceptions can quote certificate subjects but never keys.
    private static string Describe(Exception ex)
    {
        var innermost = ex;
        while (innermost.InnerException is not null) innermost = innermost.InnerException;
        return innermost.GetType().Name + ": " + innermost.Message;
    }

    private async Task SendSubscribeAsync(IReadOnlyList<Subscription> subscriptions, CancellationToken cancellationToken)
    {
        if (subscriptions.Count == 0) return;
        var builder = new MqttClientSubscribeOptionsBuilder();
        foreach (var s in subscriptions)
            builder.WithTopicFilter(s.Filter, (MqttQualityOfServiceLevel)s.Qos);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        timeout.CancelAfter(_options.OperationTimeout);
        MqttClientSubscribeResult result;
        try
        {
            result = await _client.SubscribeAsync(builder.Build(), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            throw new IoTException("The broker did not acknowledge the subscription in time.", _provider, "SubscribeTimeout", isTransient: true, innerException: ex);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or MqttClientNotConnectedException or MqttClientDisconnectedException or IOException)
        {
            throw new IoTException("Subscribing failed: the connection was lost.", _provider, "Disconnected", isTransient: true, innerException: ex);
        }
        foreach (var item in result.Items)
        {
            if (item.ResultCode is MqttClientSubscribeResultCode.GrantedQoS0 or MqttClientSubscribeResultCode.GrantedQoS1 or MqttClientSubscribeResultCode.GrantedQoS2)
                continue;
            throw new IoTAuthorizationException($"The broker refused the subscription to '{item.TopicFilter.Topic}': {item.ResultCode}.", _provider, item.ResultCode.ToString());
        }
    }

    private Task OnMessageReceivedAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        _inbox.Writer.TryWrite(new MqttIncomingMessage(message.Topic, message.Payload.ToArray(), message.Retain));
        return Task.CompletedTask;
    }

    private async Task DispatchLoopAsync()
    {
        var token = _disposed.Token;
        try
        {
            await foreach (var message in _inbox.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                foreach (var subscription in _subscriptions.Values)
                {
                    if (MqttTopicFilterComparer.Compare(message.Topic, subscription.Filter) != MqttTopicFilterCompareResult.IsMatch) continue;
                    try
                    {
                        await subscription.Handler(message, token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
                    {
                        _logger.LogError(ex, "MQTT client {ClientId}: the handler for '{Filter}' failed.", _options.ClientId, subscription.Filter);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

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
            reconnect = _started && !_expectingDisconnect && !_disposed.IsCancellationRequested;
            if (reconnect) StartOrContinueReconnectLocked();
        }
        _logger.LogWarning("MQTT client {ClientId} disconnected ({Reason}); reconnecting: {Reconnect}.", _options.ClientId, e.Reason, reconnect);
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
                _logger.LogError("MQTT client {ClientId} stopped reconnecting: {Message}", _options.ClientId, ex.Message);
                RaiseDisconnected(new MqttDisconnectedEventArgs(ex, willReconnect: false));
                return;
            }
            catch (Exception ex)
            {
                _logger.LogDebug("MQTT client {ClientId} reconnect attempt {Attempt} failed: {Message}", _options.ClientId, attempt + 1, ex.Message);
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
            _logger.LogWarning("MQTT client {ClientId} got a credential that expires in {Remaining}, within the renewal margin {Margin}; renewing in {Due}.",
                _options.ClientId, remaining, _options.CredentialRenewalMargin, due);
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
            _logger.LogWarning("MQTT client {ClientId} could not reconnect with renewed credentials: {Message}", _options.ClientId, ex.Message);
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
            _logger.LogWarning("MQTT client {ClientId}: {Count} publishes were not acknowledged within {Bound} before the credential renewal; reconnecting anyway, they may be sent again.",
                _options.ClientId, left, bound);
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

    /// <summary>Admits a publish, after the planned renewal in progress (if any) reconnected.</summary>
    private async ValueTask EnterPublishAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task renewalEnded;
            lock (_stateLock)
            {
                if (_renewal is not { } renewal)
                {
                    _inFlight++;
                    return;
                }
                renewalEnded = renewal.Ended.Task;
            }
            await renewalEnded.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void ExitPublish()
    {
        lock (_stateLock)
        {
            if (--_inFlight == 0) _renewal?.Drained.TrySetResult();
        }
    }

    /// <summary>Test hook: whether a planned renewal is draining or reconnecting now.</summary>
    internal bool IsRenewing
    {
        get { lock (_stateLock) return _renewal is not null; }
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
            _logger.LogDebug("MQTT client {ClientId}: disconnect was not clean: {Message}", _options.ClientId, ex.Message);
        }
        finally
        {
            lock (_stateLock) _expectingDisconnect = false;
        }
    }

    private IoTException NotConnected() =>
        TerminalError is { } terminal
            ? new IoTException($"MQTT client '{_options.ClientId}' stopped reconnecting: {terminal.Message}", _provider, "NotConnected", isTransient: false, innerException: terminal)
            : new IoTException($"MQTT client '{_options.ClientId}' is not connected.", _provider, "NotConnected", isTransient: true);

    private void RaiseConnected()
    {
        try { Connected?.Invoke(this, EventArgs.Empty); }
        catch (Exception ex) { _logger.LogError(ex, "A Connected handler failed."); }
    }

    private void RaiseDisconnected(MqttDisconnectedEventArgs args)
    {
        try { Disconnected?.Invoke(this, args); }
        catch (Exception ex) { _logger.LogError(ex, "A Disconnected handler failed."); }
    }

    private static void ValidateTopic(string topic)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        if (topic.AsSpan().IndexOfAny("#+\0") >= 0)
            throw new ArgumentException($"Topic '{ErrorText.Escape(topic, 128)}' must not contain '#', '+' or NUL.", nameof(topic));
        if (System.Text.Encoding.UTF8.GetByteCount(topic) > 65535)
            throw new ArgumentException("Topics are at most 65535 UTF-8 bytes.", nameof(topic));
    }

    private static void ValidateFilter(string filter)
    {
        ArgumentException.ThrowIfNullOrEmpty(filter);
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Contains('\0', StringComparison.Ordinal)
                || (level.Contains('#', StringComparison.Ordinal) && (level != "#" || i != levels.Length - 1))
                || (level.Contains('+', StringComparison.Ordinal) && level != "+"))
                throw new ArgumentException($"Topic filter '{filter}' is malformed: '#' must be a whole last level and '+' a whole level.", nameof(filter));
        }
        if (System.Text.Encoding.UTF8.GetByteCount(filter) > 65535)
            throw new ArgumentException("Topic filters are at most 65535 UTF-8 bytes.", nameof(filter));
    }

    private sealed record Subscription(string Filter, MqttMessageHandler Handler, MqttQualityOfService Qos);

    /// <summary>One planned renewal: signalled when the publishes in flight finished, and when the renewal is over.</summary>
    private sealed class RenewalWindow
    {
        public TaskCompletionSource Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
