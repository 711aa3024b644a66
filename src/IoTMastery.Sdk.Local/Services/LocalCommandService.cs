namespace IoTMastery.Sdk.Local;

/// <summary>
/// Invokes commands on devices through the embedded broker: publishes to
/// <c>devices/{id}/commands/{name}/{requestId}</c> and waits for <c>devices/{id}/replies/{requestId}</c>.
/// </summary>
internal sealed class LocalCommandService : IDeviceCommandService
{
    /// <summary>The largest command payload, in UTF-8 bytes of JSON.</summary>
    public const int MaxPayloadBytes = 128 * 1024;

    private const string Provider = "Local";
    private readonly IDeviceMessageBus _bus;
    private readonly IDeviceRegistry _registry;
    private readonly CommandReplyTable _replies;
    private readonly TimeProvider _time;

    /// <summary>Creates the service.</summary>
    /// <param name="bus">The broker, for publishing and the online check.</param>
    /// <param name="registry">Answers whether the device exists.</param>
    /// <param name="replies">The table the broker completes with device replies; share it with the <see cref="LocalBroker"/>.</param>
    /// <param name="timeProvider">The clock for reply timeouts.</param>
    public LocalCommandService(IDeviceMessageBus bus, IDeviceRegistry registry, CommandReplyTable replies, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(replies);
        _bus = bus;
        _registry = registry;
        _replies = replies;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The <see cref="IoTException.ErrorCode"/> of a command refused because the device is restricted to firmware-update traffic.</summary>
    public const string DeviceRestrictedErrorCode = "DeviceRestricted";

    /// <summary>The firmware-only restrictions; a restricted device is refused commands before anything is sent.</summary>
    internal FirmwareRestrictions? Restrictions { get; init; }

    /// <inheritdoc />
    public async Task<CommandResponse> InvokeAsync(string deviceId, DeviceCommand command, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Local.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(command);
        command.Validate();
        // Checked before any I/O, with the same depth limit the device's reader and every provider use.
        var payload = command.Payload is null ? Array.Empty<byte>() : JsonLimits.Serialize(command.Payload, MaxPayloadBytes, "A command payload", nameof(command));

        await _registry.GetAsync(deviceId, cancellationToken).ConfigureAwait(false);
        if (!_bus.IsConnected(deviceId)) throw IoTException.DeviceOffline(deviceId, Provider);
        // The broker would withhold the command anyway; failing now beats a timeout that looks like a dead device.
        if (Restrictions?.IsRestricted(deviceId) == true)
            throw new IoTException(IoTErrorKind.Unknown, $"Device '{deviceId}' is restricted to firmware-update traffic until it reports the fleet's minimum version; it receives no commands.",
                Provider, DeviceRestrictedErrorCode);

        var requestId = Guid.NewGuid().ToString("N");
        using var pending = _replies.Register(deviceId, requestId);
        await _bus.PublishAsync(LocalTopics.Command(deviceId, command.Name, requestId), payload, retain: false, cancellationToken).ConfigureAwait(false);
        ReadOnlyMemory<byte> reply;
        try
        {
            reply = await pending.Reply.WaitAsync(command.Timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw IoTException.CommandTimeout(deviceId, command.Name, command.Timeout, Provider);
        }
        return ParseReply(deviceId, command.Name, reply.Span);
    }

    internal static CommandResponse ParseReply(string deviceId, string commandName, ReadOnlySpan<byte> reply) =>
        CommandReplyJson.TryParse(reply) ?? throw new IoTException(IoTErrorKind.Unknown, $"Device '{ErrorText.Escape(deviceId)}' sent a malformed reply to command '{ErrorText.Escape(commandName)}': expected {{\"status\":<100-599>,\"payload\":…}}.", Provider, "MalformedReply");
}
