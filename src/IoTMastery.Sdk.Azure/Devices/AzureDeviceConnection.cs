using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Azure;

/// <summary>A cloud-to-device message.</summary>
/// <param name="Body">The message body.</param>
/// <param name="Properties">System (<c>$.mid</c>, <c>$.cid</c> …) and application properties; a property without a value is null.</param>
internal sealed record CloudToDeviceMessage(ReadOnlyMemory<byte> Body, IReadOnlyDictionary<string, string?> Properties);

/// <summary>Handles a cloud-to-device message; returning acknowledges it (MQTT PUBACK), which is IoT Hub's "complete".</summary>
internal delegate ValueTask CloudToDeviceHandler(CloudToDeviceMessage message, CancellationToken cancellationToken);

/// <summary>
/// One device's IoT Hub connection over MQTT 3.1.1 on TLS (port 8883): SAS (renewed by reconnecting before expiry) or X.509
/// authentication, telemetry through the shared pipeline, cloud-to-device messages, twin desired/reported state with
/// <c>$rid</c> correlation and version ordering, and direct methods. Thread-safe. After <see cref="DisposeAsync"/> every
/// member but <see cref="DeviceId"/> and <see cref="IsConnected"/> throws <see cref="ObjectDisposedException"/>.
/// </summary>
// The public face of AzureMqttDeviceConnection: the shared connection base is internal, and a public class cannot derive from it.
internal sealed class AzureDeviceConnection : IDeviceConnection, IMqttDeviceConnectionOwner
{
    private readonly AzureMqttDeviceConnection _connection;

    internal AzureDeviceConnection(DeviceConnectionOptions options, AzureDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory? loggerFactory) =>
        _connection = new AzureMqttDeviceConnection(options, endpoint, time, loggerFactory);

    /// <inheritdoc />
    public string DeviceId => _connection.DeviceId;

    /// <inheritdoc />
    public bool IsConnected => _connection.IsConnected;

    internal AzureTelemetryTransport Transport => _connection.Transport;

    internal MqttDeviceClient Client => _connection.Client;

    MqttDeviceConnection IMqttDeviceConnectionOwner.Connection => _connection;

    /// <inheritdoc />
    public Task ConnectAsync(CancellationToken cancellationToken = default) => _connection.ConnectAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask SendTelemetryAsync(TelemetryRecord record, CancellationToken cancellationToken = default) => _connection.SendTelemetryAsync(record, cancellationToken);

    /// <summary>Sends one device-to-cloud message with properties directly (not through the telemetry pipeline); completes on PUBACK.</summary>
    /// <param name="body">The body, at most 256 KB with its properties.</param>
    /// <param name="properties">System properties (<c>$.mid</c>, <c>$.ct</c>, <c>$.ce</c> …) and application properties, in topic order.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.PayloadTooLarge"/>: The message is larger than 256 KB.</exception>
    public Task SendMessageAsync(ReadOnlyMemory<byte> body, IEnumerable<KeyValuePair<string, string?>>? properties = null, CancellationToken cancellationToken = default) =>
        _connection.SendMessageAsync(body, properties, cancellationToken);

    /// <inheritdoc />
    public Task FlushAsync(CancellationToken cancellationToken = default) => _connection.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public void SetCommandHandler(CommandHandler handler) => _connection.SetCommandHandler(handler);

    /// <summary>
    /// Receives cloud-to-device messages with <paramref name="handler"/>: subscribes to <c>devices/{id}/messages/devicebound/#</c>
    /// (QoS 1) now and after every reconnect. Like the official SDK, a device that never calls this does not subscribe.
    /// </summary>
    public Task EnableCloudToDeviceAsync(CloudToDeviceHandler handler, CancellationToken cancellationToken = default) =>
        _connection.EnableCloudToDeviceAsync(handler, cancellationToken);

    /// <inheritdoc />
    public void SetDesiredStateHandler(DesiredStateHandler handler) => _connection.SetDesiredStateHandler(handler);

    /// <summary>Reads the whole twin (<c>$iothub/twin/GET</c>): <c>{"desired":{…,"$version":n},"reported":{…,"$version":m}}</c>.</summary>
    public Task<JsonObject> GetTwinAsync(CancellationToken cancellationToken = default) => _connection.GetTwinAsync(cancellationToken);

    /// <summary>A twin document; IoTException <c>InvalidTwin</c> when it is not a well-formed JSON object.</summary>
    internal static JsonObject ParseTwin(ReadOnlySpan<byte> body) => AzureMqttDeviceConnection.ParseTwin(body);

    /// <summary>A desired-properties patch with its <c>$version</c>, or null when the payload is not a well-formed JSON object.</summary>
    internal static (JsonObject Properties, long Version)? ParseDesiredPatch(ReadOnlySpan<byte> payload) => AzureMqttDeviceConnection.ParseDesiredPatch(payload);

    /// <inheritdoc />
    public Task ReportStateAsync(JsonObject patch, CancellationToken cancellationToken = default) => _connection.ReportStateAsync(patch, cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}

/// <summary>Where and how devices connect to the hub.</summary>
internal sealed record AzureDeviceEndpoint
{
    public required string HostName { get; init; }
    public string? GatewayHost { get; init; }
    public int Port { get; init; } = 8883;
    public X509Certificate2Collection? TrustedRoots { get; init; }
    public TimeSpan SasTimeToLive { get; init; } = TimeSpan.FromHours(1);
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(180);
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(60);
    public IReadOnlyDictionary<string, string>? TelemetryProperties { get; init; }
}

/// <summary>Creates <see cref="AzureDeviceConnection"/>s for one hub.</summary>
internal sealed class AzureDeviceConnectionFactory(AzureDeviceEndpoint endpoint, TimeProvider time, ILoggerFactory? loggerFactory)
{
    public IDeviceConnection Create(DeviceConnectionOptions options) => new AzureDeviceConnection(options, endpoint, time, loggerFactory);
}
