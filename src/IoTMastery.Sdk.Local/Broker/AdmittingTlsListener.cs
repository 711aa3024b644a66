using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MQTTnet.Adapter;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Formatter;
using MQTTnet.Implementations;
using MQTTnet.Server;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// The broker's TLS listener on 127.0.0.1, with admission control. MQTTnet's own listener starts the TLS handshake of every
/// accepted socket at once, with no time limit: 2,000 devices connecting together then share two cores among 2,000 half-done
/// handshakes, all finish late and most clients time out, retry and do it again (0–20 % connected). Here at most
/// <see cref="LocalBrokerOptions.MaxConcurrentHandshakes"/> connections are between admission and the broker's answer to
/// their CONNECT; the others wait in arrival order, so each admitted one finishes quickly and the machine's work goes to
/// connections that succeed. A slot covers the CONNECT too because a client that times out after its handshake (the
/// CONNECT check is a certificate chain and a registry read) wastes the whole handshake. A connection still waiting after
/// <see cref="LocalBrokerOptions.AdmissionTimeout"/> is closed unhandshaken: its client learns at once (a transient
/// failure it retries after a jittered delay) instead of timing out later. A peer that stalls gives its slot back after
/// <see cref="LocalBrokerOptions.HandshakeTimeout"/>.
/// </summary>
internal sealed partial class AdmittingTlsListener : IMqttServerAdapter
{
    private readonly LocalBrokerOptions _options;
    private readonly SslStreamCertificateContext _serverCertificate;
    private readonly LocalCertificateAuthority _ca;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _handshakeSlots;
    private readonly CancellationTokenSource _stop = new();
    private Socket? _socket;
    private Task? _acceptLoop;
    private MqttServerOptions? _serverOptions;
    private IMqttNetLogger? _mqttLogger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<IMqttChannelAdapter, HandshakeVerdict> _awaitingConnect = new();
    private int _waiting;
    private int _refused;

    /// <summary>
    /// Creates a listener for <paramref name="port"/> (0: a free one) that presents <paramref name="serverCertificate"/>; client
    /// certificates are chained to <paramref name="ca"/> during the handshake (see <see cref="ClientChainVerdict"/>).
    /// </summary>
    public AdmittingTlsListener(LocalBrokerOptions options, int port, X509Certificate2 serverCertificate, LocalCertificateAuthority ca, ILogger logger)
    {
        _options = options;
        Port = port;
        // Built once: given a bare certificate, SslStream builds a new context (an X509Chain for the server certificate) in
        // every handshake, and only a reused context lets it keep one OpenSSL SSL_CTX for all of them.
        _serverCertificate = SslStreamCertificateContext.Create(serverCertificate, additionalCertificates: null, offline: true);
        _ca = ca;
        _logger = logger;
        _handshakeSlots = new SemaphoreSlim(options.MaxConcurrentHandshakes, options.MaxConcurrentHandshakes);
    }

    /// <summary>The bound port, once started.</summary>
    public int Port { get; private set; }

    /// <summary>Connections closed by admission control (queue full or waited too long) since the start.</summary>
    public int Refused => Volatile.Read(ref _refused);

    /// <summary>Slots free now.</summary>
    public int SlotsFree => _handshakeSlots.CurrentCount;

    /// <inheritdoc />
    public Func<IMqttChannelAdapter, Task>? ClientHandler { get; set; }

    /// <inheritdoc />
    public Task StartAsync(MqttServerOptions options, IMqttNetLogger logger)
    {
        _serverOptions = options;
        _mqttLogger = logger;
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // The same port again right after a stop, while the old connections sit in TIME_WAIT.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, Port));
            // A burst of SYNs waits in the kernel's queue instead of being dropped into the client's 1 s, 3 s, 7 s SYN retransmits.
            socket.Listen(_options.MaxPendingConnections);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        Port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        _socket = socket;
        _acceptLoop = Task.Run(AcceptLoopAsync);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync()
    {
        if (_stop.IsCancellationRequested) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        if (_acceptLoop is { } loop) await loop.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_stop.IsCancellationRequested) _stop.Cancel();
        _socket?.Dispose();
        // The semaphore and token source are left to the GC: handshakes still unwinding may touch them.
    }

    private async Task AcceptLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket!.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || token.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                Log.AcceptFailed(_logger, ex.SocketErrorCode);
                continue;
            }
            if (Interlocked.Increment(ref _waiting) > _options.MaxPendingConnections)
            {
                Interlocked.Decrement(ref _waiting);
                Refuse(client, "the admission queue is full");
                continue;
            }
            _ = Task.Run(() => HandleAsync(client, token), CancellationToken.None);
        }
    }

    private async Task HandleAsync(Socket socket, CancellationToken token)
    {
        SslStream? ssl = null;
        // Whether this method still owns a slot it must give back (until the slot is handed to _awaitingConnect).
        var holding = false;
        try
        {
            try
            {
                if (!await _handshakeSlots.WaitAsync(_options.AdmissionTimeout, token).ConfigureAwait(false))
                {
                    Refuse(socket, $"it waited {_options.AdmissionTimeout.TotalSeconds:0.#} s for a handshake slot");
                    return;
                }
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
            holding = true;
            var verdict = new HandshakeVerdict();
            ssl = await HandshakeAsync(socket, verdict, token).ConfigureAwait(false);
            if (ssl is null || ClientHandler is not { } handler) return;
            var certificate = ssl.RemoteCertificate switch
            {
                X509Certificate2 c => c,
                { } c => X509CertificateLoader.LoadCertificate(c.GetRawCertData()),
                null => null,
            };
            var channel = new MqttTcpChannel(ssl, socket.LocalEndPoint, socket.RemoteEndPoint, certificate);
            var formatter = new MqttPacketFormatterAdapter(new MqttBufferWriter(_serverOptions!.WriterBufferSize, _serverOptions.WriterBufferSizeMax));
            using var adapter = new MqttChannelAdapter(channel, formatter, _mqttLogger!);
            // The slot is held until the broker answered the CONNECT (ConnectAnswered), the connection ended, or the peer stalled.
            _awaitingConnect[adapter] = verdict;
            holding = false;
            using var stalled = new CancellationTokenSource(_options.HandshakeTimeout);
            using var giveBack = stalled.Token.Register(() => ConnectAnswered(adapter));
            try
            {
                await handler(adapter).ConfigureAwait(false);
            }
            finally
            {
                ConnectAnswered(adapter);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException && token.IsCancellationRequested)
        {
            // The broker is stopping.
        }
        catch (Exception ex)
        {
            Log.ConnectionFailed(_logger, ex);
        }
        finally
        {
            if (holding) _handshakeSlots.Release();
            if (ssl is not null) await ssl.DisposeAsync().ConfigureAwait(false);
            socket.Dispose();
        }
    }

    /// <summary>The server side of the TLS handshake, bounded in time; null when it failed (the client sees the connection close).</summary>
    private async Task<SslStream?> HandshakeAsync(Socket socket, HandshakeVerdict verdict, CancellationToken token)
    {
        socket.NoDelay = true;
        // TLS only insists that a certificate is present; who it belongs to is decided on CONNECT so the device gets a clear
        // NotAuthorized. The chain SslStream built meanwhile (with the CA's own policy) is kept for that decision.
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false,
            (_, certificate, chain, errors) =>
            {
                verdict.ChainValid = certificate is not null && chain is not null && errors == SslPolicyErrors.None && _ca.EndsAtThisCa(chain);
                return certificate is not null && !errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable);
            });
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_options.HandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _serverCertificate,
                ClientCertificateRequired = true,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                // The broker checks the certificate against the local CA and the registry on CONNECT; there is no CRL to fetch.
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                // SslStream builds a chain for the client certificate in every handshake whatever the callback then decides.
                // Against the system trust store (the default) that cost more than the CONNECT check itself (a profile showed
                // OpenSSL comparing and sorting store names); built with the CA's policy it is cheap and is the CA check, so
                // CONNECT reuses its verdict instead of building the chain again. A fresh policy per handshake (the CA's clock
                // now; SslStream may adjust the policy it is given).
                CertificateChainPolicy = _ca.ClientChainPolicy(),
                EncryptionPolicy = EncryptionPolicy.RequireEncryption,
            }, timeout.Token).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or SocketException or OperationCanceledException or ObjectDisposedException
                                       or System.ComponentModel.Win32Exception)
        {
            // A client that gave up, offered no certificate or an old protocol, stalled, or a broker stopping.
            Log.HandshakeFailed(_logger, ErrorText.Name(ex));
            await ssl.DisposeAsync().ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>
    /// Whether the client certificate of <paramref name="connection"/> chained to the local CA in its handshake (by the CA's own
    /// <see cref="LocalCertificateAuthority.ClientChainPolicy"/>), or null when that is no longer known (its slot was given
    /// back after a stall): then the caller must check the certificate itself.
    /// </summary>
    public bool? ClientChainVerdict(IMqttChannelAdapter connection) =>
        _awaitingConnect.TryGetValue(connection, out var verdict) ? verdict.ChainValid : null;

    /// <summary>
    /// Gives the admission slot of <paramref name="connection"/> back: the broker has answered its CONNECT (or it ended). Called by
    /// the broker's CONNECT check; any later call for the same connection does nothing.
    /// </summary>
    public void ConnectAnswered(IMqttChannelAdapter connection)
    {
        if (_awaitingConnect.TryRemove(connection, out _)) _handshakeSlots.Release();
    }

    private void Refuse(Socket socket, string reason)
    {
        Interlocked.Increment(ref _refused);
        Log.RefusedBeforeHandshake(_logger, reason);
        // Closing with the ClientHello unread sends a reset, so the client fails at once rather than at its timeout.
        socket.Dispose();
    }

    // Written by the handshake's validation callback, read by the CONNECT check of the same connection.
    private sealed class HandshakeVerdict
    {
        public volatile bool ChainValid;
    }
}
