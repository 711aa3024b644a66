using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace IoTMastery.Sdk.Cli.Simulation;

/// <summary>The states of a simulated device.</summary>
internal enum DeviceLinkState
{
    Idle,
    Connecting,
    Connected,
    /// <summary>The connection ended (cut by the fault injector or by the peer); a reconnect is under way or due.</summary>
    Lost,
    /// <summary>Could not connect within the connect timeout: counted as a failed device.</summary>
    Failed,
    Closed,
}

/// <summary>
/// One simulated device: an id, its topic, its socket and stream, and its client certificate for TLS. It owns no thread,
/// timer or task while connected except one pending zero-byte read that notices a closed connection; the fleet's single
/// scheduler loop does all sending.
/// </summary>
internal sealed class SimulatedDevice(string id, IssuedCredential? credential, bool silent)
{
    private readonly byte[] _readBuffer = new byte[16];
    private IssuedCredential? _credential = credential;
    private SslStreamCertificateContext? _certificate;
    private Socket? _socket;
    private Stream? _stream;
    private int _state;

    public string Id { get; } = id;

    /// <summary>The device's telemetry topic, encoded once.</summary>
    public byte[] Topic { get; } = Encoding.UTF8.GetBytes($"devices/{id}/telemetry");

    public bool Silent { get; } = silent;

    /// <summary>When (Stopwatch ticks since the run started) the fault injector cuts this device's connection, or -1.</summary>
    public long DropAt { get; set; } = -1;

    /// <summary>When the device last sent anything, in Stopwatch ticks: the loop pings it when it has been idle too long.</summary>
    public long LastSent { get; set; }

    public DeviceLinkState State => (DeviceLinkState)Volatile.Read(ref _state);

    public bool TryMove(DeviceLinkState from, DeviceLinkState to) =>
        Interlocked.CompareExchange(ref _state, (int)to, (int)from) == (int)from;

    public void Set(DeviceLinkState state) => Volatile.Write(ref _state, (int)state);

    /// <summary>One connection attempt: TCP, TLS with the device certificate when the target has a trust root, CONNECT, CONNACK.</summary>
    /// <returns>The stream, connected and accepted by the broker.</returns>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.Authentication"/>: The broker answered the CONNECT with a refusal.</exception>
    public async Task ConnectAsync(SimulationTarget target, ushort keepAliveSeconds, RemoteCertificateValidationCallback validateServer, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            await socket.ConnectAsync(target.Host, target.Port, cancellationToken).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (target.TrustRoot is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    ClientCertificateContext = Certificate(),
                    // SslStream builds the server's chain in every handshake; against the target's root alone (not the system
                    // store) that build is cheap and is itself the check, so the callback only has to read its verdict.
                    CertificateChainPolicy = new X509ChainPolicy
                    {
                        TrustMode = X509ChainTrustMode.CustomRootTrust,
                        CustomTrustStore = { target.TrustRoot },
                        RevocationMode = X509RevocationMode.NoCheck,
                        DisableCertificateDownloads = true,
                    },
                    RemoteCertificateValidationCallback = validateServer,
                }, cancellationToken).ConfigureAwait(false);
            }
            await stream.WriteAsync(MqttWire.Connect(Id, keepAliveSeconds), cancellationToken).ConfigureAwait(false);
            var connack = new byte[4];
            await stream.ReadExactlyAsync(connack, cancellationToken).ConfigureAwait(false);
            var code = MqttWire.ConnackCode(connack);
            if (code != 0)
                throw new IoTException(IoTErrorKind.Authentication, $"The broker refused device '{Id}' (CONNACK {code}).", "Simulator", code.ToString(System.Globalization.CultureInfo.InvariantCulture));
            _socket = socket;
            _stream = stream;
        }
        catch
        {
            if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
            else socket.Dispose();
            throw;
        }
    }

    /// <summary>Waits until the connection closes (a zero-byte read holds no buffer while it waits), then reports it once.</summary>
    public async Task WatchAsync(Action<SimulatedDevice> lost)
    {
        var stream = _stream!;
        try
        {
            while (true)
            {
                await stream.ReadAsync(Memory<byte>.Empty).ConfigureAwait(false);
                // PINGRESP is all a QoS 0 publisher receives; anything read is discarded.
                if (await stream.ReadAsync(_readBuffer).ConfigureAwait(false) == 0) break;
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
        lost(this);
    }

    /// <summary>Sends one packet; only the scheduler loop calls this, so writes never overlap.</summary>
    public ValueTask SendAsync(byte[] packet, CancellationToken cancellationToken) => _stream!.WriteAsync(packet, cancellationToken);

    /// <summary>Cuts the connection without a DISCONNECT, as a network failure would.</summary>
    public void Abort()
    {
        try
        {
            _socket?.Close(0);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Sends DISCONNECT (best effort) and closes.</summary>
    public async Task CloseAsync()
    {
        if (_stream is { } stream)
        {
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await stream.WriteAsync(MqttWire.Disconnect, bound.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or OperationCanceledException)
            {
            }
            await stream.DisposeAsync().ConfigureAwait(false);
        }
        Set(DeviceLinkState.Closed);
    }

    // Built once and kept for reconnects; the PEM text is dropped once the certificate exists.
    private SslStreamCertificateContext? Certificate()
    {
        if (_certificate is null && _credential is not null)
        {
            // OpenSSL takes the PEM key as it is; the PKCS#12 round trip of ToCertificate (for Windows' SChannel) costs a
            // key-derivation per device, which adds up over a fleet.
            var certificate = OperatingSystem.IsLinux() && _credential.CertificatePem is { } pem && _credential.PrivateKeyPem is { } key
                ? X509Certificate2.CreateFromPem(pem, key)
                : _credential.ToCertificate();
            _certificate = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
            _credential = null;
        }
        return _certificate;
    }
}
