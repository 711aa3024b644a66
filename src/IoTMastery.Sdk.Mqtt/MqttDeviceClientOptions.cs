using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk.Mqtt;

/// <summary>The MQTT protocol version a <see cref="MqttDeviceClient"/> speaks.</summary>
internal enum MqttVersion
{
    /// <summary>MQTT 5.0: reason codes on every acknowledgement. The default.</summary>
    Mqtt5,

    /// <summary>MQTT 3.1.1, for brokers that lack MQTT 5 (the broker cannot report a refused publish).</summary>
    Mqtt311,
}

/// <summary>The delivery guarantees <see cref="MqttDeviceClient"/> offers. QoS 2 is deliberately absent: no provider needs it.</summary>
internal enum MqttQualityOfService
{
    /// <summary>QoS 0: fire and forget.</summary>
    AtMostOnce = 0,

    /// <summary>QoS 1: the publish completes when the broker acknowledged it (PUBACK).</summary>
    AtLeastOnce = 1,
}

/// <summary>A user name and password for the MQTT CONNECT, for SAS-token or JWT providers. <see cref="ToString"/> hides the password.</summary>
/// <param name="UserName">The user name.</param>
/// <param name="Password">The password or token; secret.</param>
/// <param name="ExpiresAt">
/// When the password stops being valid; the client reconnects with fresh credentials
/// <see cref="MqttDeviceClientOptions.CredentialRenewalMargin"/> before that. <see langword="null"/> when it does not expire.
/// </param>
internal sealed record MqttCredentials(string UserName, string? Password, DateTimeOffset? ExpiresAt = null)
{
    /// <summary>Describes the credentials without the password.</summary>
    public override string ToString() => $"MqttCredentials {{ UserName = {UserName}, ExpiresAt = {ExpiresAt:O}, password redacted }}";
}

/// <summary>Supplies the user name and password for each CONNECT (called again on every reconnect).</summary>
internal delegate ValueTask<MqttCredentials> MqttCredentialProvider(CancellationToken cancellationToken);

/// <summary>
/// Settings of a <see cref="MqttDeviceClient"/>. The connection is always TLS 1.2 or newer, the server
/// certificate is always validated (chain and host name), and <see cref="Validate"/> runs when the client is created.
/// </summary>
internal sealed record MqttDeviceClientOptions
{
    /// <summary>The broker host name or IP address; also the name the server certificate must carry. Required.</summary>
    public required string Host { get; init; }

    /// <summary>The broker's TLS port. Default 8883.</summary>
    public int Port { get; init; } = 8883;

    /// <summary>The MQTT client id (for most providers, the device id). Required; 1-65535 UTF-8 bytes, no wildcards.</summary>
    public required string ClientId { get; init; }

    /// <summary>The client certificate with its private key, for mutual TLS. <see langword="null"/> for password-only providers.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>
    /// Root certificates the server certificate must chain to. <see langword="null"/> or empty uses the
    /// operating system's trust store. There is no way to switch validation off.
    /// </summary>
    public X509Certificate2Collection? TrustedRoots { get; init; }

    /// <summary>
    /// ALPN protocol ids offered in the TLS handshake (for example <c>x-amzn-mqtt-ca</c> for AWS IoT on port 443); null offers none.
    /// </summary>
    public IReadOnlyList<System.Net.Security.SslApplicationProtocol>? ApplicationProtocols { get; init; }

    /// <summary>Supplies user name and password for each connect (SAS, JWT). <see langword="null"/> sends none.</summary>
    public MqttCredentialProvider? CredentialProvider { get; init; }

    /// <summary>How long before <see cref="MqttCredentials.ExpiresAt"/> the client reconnects with fresh credentials. Default 60 s.</summary>
    public TimeSpan CredentialRenewalMargin { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The protocol version. Default <see cref="MqttVersion.Mqtt5"/>.</summary>
    public MqttVersion Version { get; init; } = MqttVersion.Mqtt5;

    /// <summary>
    /// Whether the broker discards the session on connect. Default <see langword="true"/>. Azure IoT Hub devices use
    /// <see langword="false"/> so subscriptions and queued cloud-to-device messages survive a reconnect.
    /// </summary>
    public bool CleanSession { get; init; } = true;

    /// <summary>The MQTT keep-alive period. Default 30 s; 0 (off) to 18 h.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one connect attempt (TCP, TLS, CONNACK and the subscriptions) may take. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long <see cref="MqttDeviceClient.ConnectAsync"/> keeps retrying a first connect that failed transiently (broker
    /// unreachable, busy or slow to answer) before it gives up with that error. Retries wait with full jitter like reconnects
    /// (<see cref="ReconnectBaseDelay"/> doubling up to <see cref="ReconnectMaxDelay"/>) and none starts once the budget is spent,
    /// so the call takes at most the budget plus one <see cref="ConnectTimeout"/>. Refused credentials and untrusted servers are
    /// never retried. <see cref="TimeSpan.Zero"/> makes one attempt. Default 60 s.
    /// </summary>
    public TimeSpan ConnectRetryBudget { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a QoS 1 publish or a subscribe waits for the broker's acknowledgement. Default 30 s.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The first reconnect delay cap; the cap doubles per failed attempt and each delay is random below it (full jitter). Default 1 s.</summary>
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The largest reconnect delay. Default 60 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The send and receive buffer size of the connection's TCP socket, in bytes (4 KiB to 16 MiB). Default <see langword="null"/>:
    /// MQTTnet's 8 KiB, with which a large telemetry batch (up to 128-256 KiB) leaves the socket in several partial writes, each
    /// resumed by the thread pool. 512 KiB lets several batches in flight leave in one write each: on this repository's
    /// benchmark machine the pipeline then used about a third less CPU per record (benchmarks/README.md, "Socket buffers").
    /// Devices set it through <see cref="DeviceConnectionOptions.SocketBufferBytes"/>.
    /// Caution: a broker that leaves Nagle's algorithm on (Mosquitto's default, <c>set_tcp_nodelay false</c>) then holds back
    /// acknowledgements once this client goes quiet with several publishes in flight, so a flush can wait for the delayed
    /// acknowledgement timer (about 40 ms on Linux). Raise it for brokers that set TCP_NODELAY (the Local broker does).
    /// </summary>
    public int? SocketBufferBytes { get; init; }

    /// <summary>The smallest and largest <see cref="SocketBufferBytes"/>.</summary>
    internal const int MinSocketBufferBytes = 4 * 1024, MaxSocketBufferBytes = 16 * 1024 * 1024;

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host))
            throw new ArgumentException("Host is required.", nameof(Host));
        if (Port is < 1 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "Port must be between 1 and 65535.");
        if (string.IsNullOrEmpty(ClientId))
            throw new ArgumentException("ClientId is required.", nameof(ClientId));
        if (System.Text.Encoding.UTF8.GetByteCount(ClientId) > 65535 || ClientId.AsSpan().IndexOfAny("#+\0") >= 0)
            throw new ArgumentException("ClientId must be at most 65535 UTF-8 bytes without '#', '+' or NUL.", nameof(ClientId));
        if (ClientCertificate is { HasPrivateKey: false })
            throw new ArgumentException("ClientCertificate must include its private key.", nameof(ClientCertificate));
        if (!Enum.IsDefined(Version))
            throw new ArgumentOutOfRangeException(nameof(Version), Version, "Unknown MQTT version.");
        if (KeepAlive < TimeSpan.Zero || KeepAlive > TimeSpan.FromSeconds(ushort.MaxValue))
            throw new ArgumentOutOfRangeException(nameof(KeepAlive), KeepAlive, "KeepAlive must be between 0 and 65535 s.");
        if (ConnectTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "ConnectTimeout must be positive.");
        if (ConnectRetryBudget < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(ConnectRetryBudget), ConnectRetryBudget, "ConnectRetryBudget must not be negative (zero: one attempt).");
        if (OperationTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(OperationTimeout), OperationTimeout, "OperationTimeout must be positive.");
        if (ReconnectBaseDelay <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(ReconnectBaseDelay), ReconnectBaseDelay, "ReconnectBaseDelay must be positive.");
        if (ReconnectMaxDelay < ReconnectBaseDelay)
            throw new ArgumentOutOfRangeException(nameof(ReconnectMaxDelay), ReconnectMaxDelay, "ReconnectMaxDelay must be at least ReconnectBaseDelay.");
        if (CredentialRenewalMargin < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(CredentialRenewalMargin), CredentialRenewalMargin, "CredentialRenewalMargin must not be negative.");
        if (SocketBufferBytes is < MinSocketBufferBytes or > MaxSocketBufferBytes)
            throw new ArgumentOutOfRangeException(nameof(SocketBufferBytes), SocketBufferBytes, "SocketBufferBytes must be between 4096 and 16777216 (or null for the default).");
    }
}

/// <summary>A message the broker delivered to a subscription.</summary>
/// <param name="Topic">The topic it was published to.</param>
/// <param name="Payload">The payload; valid after the handler returns (it is a copy).</param>
/// <param name="Retain">Whether it is a retained message delivered on subscribe.</param>
internal sealed record MqttIncomingMessage(string Topic, ReadOnlyMemory<byte> Payload, bool Retain);

/// <summary>Handles one message delivered to a subscription.</summary>
internal delegate ValueTask MqttMessageHandler(MqttIncomingMessage message, CancellationToken cancellationToken);

/// <summary>Describes a lost connection.</summary>
internal sealed class MqttDisconnectedEventArgs : EventArgs
{
    /// <summary>Creates the arguments.</summary>
    public MqttDisconnectedEventArgs(Exception? error, bool willReconnect)
    {
        Error = error;
        WillReconnect = willReconnect;
    }

    /// <summary>Why the connection ended or why reconnecting stopped (an <see cref="IoTException"/> of kind <see cref="IoTErrorKind.Authentication"/> when the broker refused the credentials); <see langword="null"/> for a requested disconnect.</summary>
    public Exception? Error { get; }

    /// <summary>False when the client gave up (authentication refusal, disposal); true while it keeps reconnecting.</summary>
    public bool WillReconnect { get; }
}
