using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

// A desired document and its version as the connections store and order them. Internal: the public handler takes the two
// values as parameters (issue #14), so users learn no record that only ever travelled into their own callback.
internal sealed record DesiredStateChange(JsonObject Desired, long Version);

/// <summary>
/// The device side: one device's connection to the provider. It sends telemetry through the
/// batching core, answers commands, receives desired state and reports state. Thread-safe.
/// </summary>
public interface IDeviceConnection : IAsyncDisposable
{
    /// <summary>The connected device's id.</summary>
    string DeviceId { get; }

    /// <summary>Whether the transport is connected now.</summary>
    bool IsConnected { get; }

    /// <summary>
    /// Connects (and, after a drop, keeps reconnecting with backoff until disposed). A first attempt that fails transiently is
    /// retried with full-jitter backoff within <see cref="DeviceConnectionOptions.ConnectRetryBudget"/>.
    /// </summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.Authentication"/>: The credential was refused (revoked, disabled device, wrong CA) or is missing; never retried.</exception>
    /// <exception cref="IoTException">Still unreachable when the retry budget ran out (<see cref="IoTException.IsTransient"/>), or the server is not trusted.</exception>
    Task ConnectAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Queues a record for sending. Completes when the record is <em>accepted</em> (queued), not when it
    /// is delivered; call <see cref="FlushAsync"/> to wait for acknowledgement.
    /// </summary>
    /// <exception cref="ArgumentException">The record is not this device's or is not initialized.</exception>
    ValueTask SendTelemetryAsync(TelemetryRecord record, CancellationToken cancellationToken = default);

    /// <summary>Waits until every record accepted so far is acknowledged by the broker or service.</summary>
    Task FlushAsync(CancellationToken cancellationToken = default);

    /// <summary>Sets the handler that answers commands. Without one, commands are answered with status 501.</summary>
    /// <param name="handler">Takes the command and a token that is cancelled when the caller's timeout passes or the connection closes; returns the reply.</param>
    void SetCommandHandler(CommandHandler handler);

    /// <summary>Sets the handler for desired-state changes. It also receives the current desired state on connect.</summary>
    /// <param name="handler">
    /// Takes the complete desired document after the change, its version (versions may skip but never go back) and a token
    /// cancelled when the connection closes.
    /// </param>
    void SetDesiredStateHandler(DesiredStateHandler handler);

    /// <summary>Merges <paramref name="patch"/> into the reported state (JSON merge patch).</summary>
    Task ReportStateAsync(JsonObject patch, CancellationToken cancellationToken = default);
}

/// <summary>Options for one device connection.</summary>
public sealed record DeviceConnectionOptions
{
    /// <summary>The device id.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The device's credential (certificate and key, symmetric key or signing key).</summary>
    public required IssuedCredential Credential { get; init; }

    /// <summary>Batching and backpressure for this device's telemetry; provider limits are applied on top.</summary>
    public TelemetryPipelineOptions Telemetry { get; init; } = new();

    /// <summary>How long one connect attempt (TCP, TLS, the broker's answer and the subscriptions) may take. Default 10 s; must be positive.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long <see cref="IDeviceConnection.ConnectAsync"/> keeps retrying a first connect that failed transiently (unreachable,
    /// busy or slow broker), waiting a random delay below a doubling cap between attempts so a fleet does not retry in
    /// lockstep. No attempt starts after the budget, so the call takes at most the budget plus one <see cref="ConnectTimeout"/>;
    /// refused or missing credentials and untrusted servers fail at once. <see cref="TimeSpan.Zero"/>: one attempt. Default 60 s.
    /// </summary>
    public TimeSpan ConnectRetryBudget { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The send and receive buffer size of the device's TCP socket, in bytes (4 KiB to 16 MiB). <see langword="null"/> (default):
    /// the provider's choice, 512 KiB on Local (its broker turns Nagle's algorithm off) and the MQTT library's 8 KiB on the cloud
    /// providers. 512 KiB lets large telemetry batches leave in one write each, for about a third less CPU per record at high
    /// rates (benchmarks/README.md, "Socket buffers"); with a broker that leaves Nagle's algorithm on (Mosquitto's default) a
    /// flush may then wait about 40 ms for the broker's held-back acknowledgements.
    /// </summary>
    public int? SocketBufferBytes { get; init; }
}
