using System.Collections.Concurrent;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Aws;

/// <summary>
/// The service's own MQTT connection: publishes commands and receives replies, telemetry and presence events.
/// AWS has no HTTP subscribe, so without it commands and telemetry consumption are not available.
/// </summary>
internal sealed partial class AwsServiceConnection : IAsyncDisposable
{
    private readonly MqttDeviceClient _client;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<ReadOnlyMemory<byte>>> _pending = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly int _readerCapacity;
    private readonly ILogger _logger;
    private Channel<TelemetryRecord>[] _readers = [];
    private Channel<DeviceLifecycleEvent>[] _presenceReaders = [];
    private long _malformedPresence;

    public AwsServiceConnection(AwsServiceMqttOptions options, int readerCapacity, TimeProvider time, ILoggerFactory loggers)
    {
        _readerCapacity = readerCapacity;
        _logger = loggers.CreateLogger<AwsServiceConnection>();
        _client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = options.Host,
            Port = options.Port,
            ClientId = options.ClientId,
            ClientCertificate = options.ClientCertificate,
            TrustedRoots = options.TrustedRoots,
            ApplicationProtocols = options.Port == 443 ? [new SslApplicationProtocol(AwsIoTProvider.MqttAlpn)] : null,
        }, AwsIoTProvider.ProviderName, time, loggers.CreateLogger<MqttDeviceClient>());
    }

    public MqttDeviceClient Client => _client;

    /// <summary>Where lifecycle events and telemetry arrivals are recorded for the neutral presence API, when set.</summary>
    public PresenceTable? Presence { get; init; }

    public async Task StartAsync(CancellationToken ct)
    {
        await _client.SubscribeAsync(AwsTopics.ReplyFilter, OnReplyAsync, cancellationToken: ct).ConfigureAwait(false);
        await _client.SubscribeAsync(AwsTopics.TelemetryFilter, OnTelemetryAsync, cancellationToken: ct).ConfigureAwait(false);
        await _client.ConnectAsync(ct).ConfigureAwait(false);
        try
        {
            // After connecting, alone: a policy without presence rights must not cost commands and telemetry.
            await _client.SubscribeAsync(AwsTopics.PresenceFilter, OnPresenceAsync, cancellationToken: ct).ConfigureAwait(false);
            PresenceSubscribed = true;
        }
        catch (IoTException ex) when (ex.Kind == IoTErrorKind.Authorization)
        {
            Log.PresenceUnavailable(_logger, AwsTopics.PresenceFilter, ErrorText.Name(ex));
        }
    }

    /// <summary>True once the broker accepted the subscription to the presence topics.</summary>
    public bool PresenceSubscribed { get; private set; }

    /// <summary>Presence messages skipped because they were not a documented lifecycle event.</summary>
    public long MalformedPresenceCount => Interlocked.Read(ref _malformedPresence);

    /// <summary>Publishes a command and waits for the device's reply on its reply topic.</summary>
    public async Task<ReadOnlyMemory<byte>> RequestAsync(string deviceId, string name, ReadOnlyMemory<byte> payload, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        var requestId = Guid.NewGuid().ToString("N");
        var reply = new TaskCompletionSource<ReadOnlyMemory<byte>>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[Key(deviceId, requestId)] = reply;
        try
        {
            // QoS 1: a command is at-least-once; the request id lets the device drop a duplicate.
            await _client.PublishAsync(AwsTopics.Command(deviceId, name, requestId), payload, MqttQualityOfService.AtLeastOnce, false, ct).ConfigureAwait(false);
            return await reply.Task.WaitAsync(timeout, time, ct).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(Key(deviceId, requestId), out _);
        }
    }

    public async IAsyncEnumerable<TelemetryRecord> ReadAllAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var channel = Channel.CreateBounded<TelemetryRecord>(new BoundedChannelOptions(_readerCapacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
        lock (_lock) _readers = [.. _readers, channel];
        try
        {
            while (await channel.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
                while (channel.Reader.TryRead(out var record)) yield return record;
        }
        finally
        {
            lock (_lock) _readers = _readers.Where(r => r != channel).ToArray();
        }
    }

    public async IAsyncEnumerable<DeviceLifecycleEvent> ReadPresenceAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var channel = Channel.CreateBounded<DeviceLifecycleEvent>(new BoundedChannelOptions(_readerCapacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
        lock (_lock) _presenceReaders = [.. _presenceReaders, channel];
        try
        {
            while (await channel.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
                while (channel.Reader.TryRead(out var lifecycleEvent)) yield return lifecycleEvent;
        }
        finally
        {
            lock (_lock) _presenceReaders = _presenceReaders.Where(r => r != channel).ToArray();
        }
    }

    public ValueTask DisposeAsync() => _client.DisposeAsync();

    private ValueTask OnPresenceAsync(MqttIncomingMessage message, CancellationToken ct)
    {
        if (!LifecycleEventJson.TryParse(message.Topic, message.Payload.Span, out var lifecycleEvent))
        {
            Interlocked.Increment(ref _malformedPresence);
            Log.MalformedLifecycleEvent(_logger, ErrorText.Escape(message.Topic, 128));
            return ValueTask.CompletedTask;
        }
        foreach (var reader in Volatile.Read(ref _presenceReaders)) reader.Writer.TryWrite(lifecycleEvent!);
        // The table orders by versionNumber, so AWS's duplicates and out-of-order deliveries do not flip the answer back.
        Presence?.Observe(lifecycleEvent!.ClientId, lifecycleEvent.EventType == DeviceLifecycleEventType.Connected, lifecycleEvent.Timestamp,
            lifecycleEvent.DisconnectReason, lifecycleEvent.VersionNumber);
        return ValueTask.CompletedTask;
    }

    private ValueTask OnReplyAsync(MqttIncomingMessage message, CancellationToken ct)
    {
        // iotmastery/{thing}/replies/{requestId}
        var levels = message.Topic.Split('/');
        if (levels.Length == 4 && _pending.TryGetValue(Key(levels[1], levels[3]), out var pending))
            pending.TrySetResult(message.Payload.ToArray());
        return ValueTask.CompletedTask;
    }

    private ValueTask OnTelemetryAsync(MqttIncomingMessage message, CancellationToken ct)
    {
        var levels = message.Topic.Split('/');
        // Synchronous from decode to fan-out, so the thread's reused list is safe and a steady stream allocates nothing per record.
        var records = TelemetryBatchDecoder.ThreadBuffer();
        try
        {
            TelemetryRecord.DecodeBatch(message.Payload.Span, records);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or ArgumentException)
        {
            Log.MalformedTelemetry(_logger, ErrorText.Escape(message.Topic, 128), ErrorText.Name(ex));
            return ValueTask.CompletedTask;
        }
        var readers = Volatile.Read(ref _readers);
        // Arrival, not the records' own timestamps: those are the device's clock and may be old (an outbox draining).
        if (levels.Length == 3) Presence?.Activity(levels[1]);
        foreach (var record in records)
        {
            // A device may only speak for itself: the topic names the thing the policy let publish.
            if (levels.Length != 3 || record.DeviceId != levels[1]) continue;
            foreach (var reader in readers) reader.Writer.TryWrite(record);
        }
        return ValueTask.CompletedTask;
    }

    private static string Key(string deviceId, string requestId) => deviceId + "/" + requestId;
}

/// <summary>Commands as MQTT request/response on iotmastery/{thing}/commands/{name}/{requestId} → …/replies/{requestId}.</summary>
internal sealed class AwsCommandService(AwsServiceConnection? connection, IDeviceRegistry registry, TimeProvider time) : IDeviceCommandService
{
    public async Task<CommandResponse> InvokeAsync(string deviceId, DeviceCommand command, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Aws.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(command);
        command.Validate();
        if (connection is null)
            throw new NotSupportedException("AWS IoT commands need AwsIoTOptions.ServiceMqttClientId and ServiceMqttCertificate: replies arrive over MQTT and AWS has no HTTP subscribe. For fleet-wide commands use an IoT job (see the README).");
        await registry.GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
        var payload = command.Payload is null ? ReadOnlyMemory<byte>.Empty : JsonSerializer.SerializeToUtf8Bytes(command.Payload);
        ReadOnlyMemory<byte> reply;
        try
        {
            reply = await connection.RequestAsync(deviceId, command.Name, payload, command.Timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw IoTException.CommandTimeout(deviceId, command.Name, command.Timeout, AwsIoTProvider.ProviderName);
        }
        return ParseReply(deviceId, command.Name, reply.Span);
    }

    /// <summary>Reads a device's <c>{"status":&lt;100-599&gt;,"payload":…}</c> reply.</summary>
    /// <exception cref="IoTException">The reply is malformed (error code MalformedReply).</exception>
    internal static CommandResponse ParseReply(string deviceId, string commandName, ReadOnlySpan<byte> reply) =>
        CommandReplyJson.TryParse(reply) ?? throw new IoTException(IoTErrorKind.Unknown, $"Device '{deviceId}' sent a malformed reply to command '{commandName}'.", AwsIoTProvider.ProviderName, "MalformedReply");
}

/// <summary>Telemetry consumption over the service MQTT connection.</summary>
internal sealed class AwsTelemetryChannel(AwsServiceConnection? connection) : ITelemetryChannel
{
    public IAsyncEnumerable<TelemetryRecord> ReadAllAsync(CancellationToken cancellationToken = default) =>
        connection?.ReadAllAsync(cancellationToken) ?? throw new NotSupportedException(
            "Reading telemetry from AWS IoT needs AwsIoTOptions.ServiceMqttClientId and ServiceMqttCertificate (or route iotmastery/+/telemetry with an IoT rule to your own stream).");
}
