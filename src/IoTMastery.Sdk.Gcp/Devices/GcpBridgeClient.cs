using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Gcp;

/// <summary>Settings of a <see cref="GcpBridgeClient"/>.</summary>
internal sealed record GcpBridgeOptions
{
    /// <summary>The bridge host, for example <c>us-central1-mqtt.clearblade.com</c>. Required.</summary>
    public required string Host { get; init; }

    /// <summary>The TLS port. Default 8883 (443 is the usual alternative).</summary>
    public int Port { get; init; } = 8883;

    /// <summary>Roots the bridge certificate must chain to; <see langword="null"/> uses the system store.</summary>
    public X509Certificate2Collection? TrustedRoots { get; init; }

    /// <summary>The device's registry. Required.</summary>
    public required CloudIotRegistryPath Registry { get; init; }

    /// <summary>The device id. Required.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The device's PKCS#8 private key (P-256 → ES256, RSA → RS256). Secret; never logged.</summary>
    public required string PrivateKeyPem { get; init; }

    /// <summary>JWT lifetime, 1 min to 24 h. Default 60 min; the connection is renewed at 80 % of it.</summary>
    public TimeSpan JwtLifetime { get; init; } = TimeSpan.FromMinutes(60);

    /// <summary>Keep-alive. Default 60 s as the bridge recommends.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one connect attempt may take; see <see cref="DeviceConnectionOptions.ConnectTimeout"/>. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a first connect that failed transiently is retried; see <see cref="DeviceConnectionOptions.ConnectRetryBudget"/>. Default 60 s.</summary>
    public TimeSpan ConnectRetryBudget { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Checks every setting before connecting.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Registry);
        Registry.Validate();
        DeviceIdRules.Gcp.Validate(DeviceId, nameof(DeviceId));
        ArgumentException.ThrowIfNullOrEmpty(PrivateKeyPem);
        if (JwtLifetime < TimeSpan.FromMinutes(1) || JwtLifetime > DeviceJwt.MaxLifetime)
            throw new ArgumentOutOfRangeException(nameof(JwtLifetime), JwtLifetime, "JwtLifetime must be between 1 minute and 24 hours.");
    }

    /// <inheritdoc />
    public override string ToString() => $"GcpBridgeOptions {{ Host = {Host}, Port = {Port}, Device = {Registry?.Device(DeviceId)}, private key redacted }}";
}

/// <summary>
/// The device side of the Cloud IoT MQTT bridge protocol over <see cref="MqttDeviceClient"/>: client id = the
/// device's resource path, user name <c>unused</c>, password = a device JWT renewed before expiry by
/// reconnecting (the bridge cannot refresh credentials in-session), MQTT 3.1.1, clean session. Topics:
/// <c>/devices/{id}/events[/subfolder]</c>, <c>/devices/{id}/state</c>, <c>/devices/{id}/config</c> (QoS 1),
/// <c>/devices/{id}/commands/#</c>, and for gateways <c>/devices/{bound}/attach</c> and <c>/detach</c>.
/// </summary>
internal sealed class GcpBridgeClient : IAsyncDisposable
{
    private readonly GcpBridgeOptions _options;
    private readonly TimeProvider _time;
    private int _tokensIssued;

    /// <summary>Creates the client; call <see cref="ConnectAsync"/>.</summary>
    public GcpBridgeClient(GcpBridgeOptions options, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        // Fails now, not at connect time, when the key cannot sign.
        _ = DeviceJwt.Create(options.Registry.ProjectId, options.PrivateKeyPem, _time.GetUtcNow(), options.JwtLifetime);
        Mqtt = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = options.Host,
            Port = options.Port,
            TrustedRoots = options.TrustedRoots,
            ClientId = options.Registry.Device(options.DeviceId),
            Version = MqttVersion.Mqtt311,
            KeepAlive = options.KeepAlive,
            CredentialProvider = IssueCredentialsAsync,
            CredentialRenewalMargin = options.JwtLifetime * 0.2,
            ConnectTimeout = options.ConnectTimeout,
            ConnectRetryBudget = options.ConnectRetryBudget,
        }, GoogleApiErrors.Provider, _time, logger);
    }

    /// <summary>The underlying MQTT connection.</summary>
    public MqttDeviceClient Mqtt { get; }

    /// <summary>The device id.</summary>
    public string DeviceId => _options.DeviceId;

    /// <summary>JWTs issued so far (one per connect, including renewals).</summary>
    public int TokensIssued => Volatile.Read(ref _tokensIssued);

    private ValueTask<MqttCredentials> IssueCredentialsAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var jwt = DeviceJwt.Create(_options.Registry.ProjectId, _options.PrivateKeyPem, now, _options.JwtLifetime);
        Interlocked.Increment(ref _tokensIssued);
        return ValueTask.FromResult(new MqttCredentials("unused", jwt, now + _options.JwtLifetime));
    }

    /// <summary>Connects (and keeps reconnecting after drops until disposed).</summary>
    public Task ConnectAsync(CancellationToken cancellationToken = default) => Mqtt.ConnectAsync(cancellationToken);

    /// <summary>The topic root of a device: <c>/devices/{id}</c>.</summary>
    public static string Topic(string deviceId, string leaf) => $"/devices/{deviceId}/{leaf}";

    /// <summary>Publishes telemetry on <c>/devices/{id}/events</c> or <c>…/events/{subfolder}</c> (≤ 256 KB, QoS 1: PUBACK after it reached Pub/Sub).</summary>
    public Task PublishEventAsync(ReadOnlyMemory<byte> payload, string? subfolder = null, string? deviceId = null, CancellationToken cancellationToken = default)
    {
        if (payload.Length > 256 * 1024) throw new ArgumentException($"Telemetry events are at most 262144 bytes; got {payload.Length}.", nameof(payload));
        if (subfolder is not null && (subfolder.Length is 0 or > 256 || subfolder.AsSpan().IndexOfAny("+#\0") >= 0 || subfolder.StartsWith('/')))
            throw new ArgumentException("A subfolder is 1-256 characters without '+', '#', NUL or a leading '/'.", nameof(subfolder));
        var id = TargetDevice(deviceId);
        return Mqtt.PublishAsync(Topic(id, subfolder is null ? "events" : "events/" + subfolder), payload, MqttQualityOfService.AtLeastOnce, cancellationToken: cancellationToken);
    }

    /// <summary>Publishes the device state on <c>/devices/{id}/state</c> (≤ 64 KB; at most 1 per second is accepted).</summary>
    public Task PublishStateAsync(ReadOnlyMemory<byte> payload, string? deviceId = null, CancellationToken cancellationToken = default)
    {
        if (payload.IsEmpty || payload.Length > 64 * 1024) throw new ArgumentException($"State is 1-65536 bytes; got {payload.Length}.", nameof(payload));
        return Mqtt.PublishAsync(Topic(TargetDevice(deviceId), "state"), payload, MqttQualityOfService.AtLeastOnce, cancellationToken: cancellationToken);
    }

    /// <summary>Receives configs on <c>/devices/{id}/config</c> with QoS 1 (the bridge redelivers the latest until PUBACK; the PUBACK is the "applied" signal).</summary>
    public Task SubscribeConfigAsync(Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> handler, string? deviceId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Mqtt.SubscribeAsync(Topic(TargetDevice(deviceId), "config"), (m, ct) => handler(m.Payload, ct), MqttQualityOfService.AtLeastOnce, cancellationToken);
    }

    /// <summary>Receives commands on <c>/devices/{id}/commands/#</c>; the handler gets the subfolder (null for none) and the data.</summary>
    public Task SubscribeCommandsAsync(Func<string?, ReadOnlyMemory<byte>, CancellationToken, ValueTask> handler, string? deviceId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var target = TargetDevice(deviceId);
        return Mqtt.SubscribeAsync(CommandFilter(target), (m, ct) => handler(CommandSubfolder(target, m.Topic), m.Payload, ct), MqttQualityOfService.AtLeastOnce, cancellationToken);
    }

    /// <summary>The command filter of a device: <c>/devices/{id}/commands/#</c>.</summary>
    internal static string CommandFilter(string deviceId) => Topic(deviceId, "commands") + "/#";

    /// <summary>The subfolder of a command topic of <paramref name="deviceId"/>, or null when it has none.</summary>
    internal static string? CommandSubfolder(string deviceId, string topic)
    {
        var prefix = Topic(deviceId, "commands");
        return topic.Length > prefix.Length + 1 ? topic[(prefix.Length + 1)..] : null;
    }

    /// <summary>
    /// Gateway: attaches a bound device (QoS 1; success = PUBACK). Pass the bound device's private key for the
    /// device-token auth methods (its JWT goes in <c>{"authorization":…}</c>); without one, sends <c>{}</c> (ASSOCIATION_ONLY).
    /// </summary>
    public Task AttachAsync(string boundDeviceId, string? boundDevicePrivateKeyPem = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(boundDeviceId, nameof(boundDeviceId));
        var body = new JsonObject();
        if (boundDevicePrivateKeyPem is not null)
            body["authorization"] = DeviceJwt.Create(_options.Registry.ProjectId, boundDevicePrivateKeyPem, _time.GetUtcNow(), _options.JwtLifetime);
        return Mqtt.PublishAsync(Topic(boundDeviceId, "attach"), Encoding.UTF8.GetBytes(body.ToJsonString()), MqttQualityOfService.AtLeastOnce, cancellationToken: cancellationToken);
    }

    /// <summary>Gateway: detaches a bound device.</summary>
    public Task DetachAsync(string boundDeviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(boundDeviceId, nameof(boundDeviceId));
        return Mqtt.PublishAsync(Topic(boundDeviceId, "detach"), "{}"u8.ToArray(), MqttQualityOfService.AtLeastOnce, cancellationToken: cancellationToken);
    }

    private string TargetDevice(string? deviceId)
    {
        if (deviceId is null) return _options.DeviceId;
        DeviceIdRules.Gcp.Validate(deviceId, nameof(deviceId));
        return deviceId;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Mqtt.DisposeAsync();
}
