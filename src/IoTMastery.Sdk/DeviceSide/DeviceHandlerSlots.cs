using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk;

/// <summary>
/// What every provider's <see cref="IDeviceConnection"/> shares: the telemetry record check, the command and
/// desired-state handler slots, the 501 answer without a command handler and version-ordered desired-state delivery.
/// Thread-safe.
/// </summary>
internal sealed partial class DeviceHandlerSlots
{
    /// <summary>The neutral contract's answer when no command handler is set.</summary>
    internal static readonly CommandResponse NotImplemented = new(501, new JsonObject { ["error"] = "no command handler" });

    private readonly Lock _desiredLock = new();
    private CommandHandler? _commandHandler;
    private DesiredStateHandler? _desiredHandler;
    private DesiredStateChange? _latestDesired;
    private long _deliveredDesiredVersion = -1;

    /// <summary>Rejects a record that was not constructed or belongs to another device, before it reaches the pipeline.</summary>
    /// <exception cref="ArgumentException">The record is <c>default</c> or carries another device id.</exception>
    internal static void ValidateRecord(in TelemetryRecord record, string deviceId)
    {
        if (!record.IsInitialized)
            throw new ArgumentException("The record was not created by a constructor.", nameof(record));
        if (!string.Equals(record.DeviceId, deviceId, StringComparison.Ordinal))
            throw new ArgumentException($"The record belongs to device '{ErrorText.Escape(record.DeviceId)}', not to this connection's device '{ErrorText.Escape(deviceId)}'.", nameof(record));
    }

    /// <summary>The command handler, or null when none was set.</summary>
    internal CommandHandler? CommandHandler => Volatile.Read(ref _commandHandler);

    /// <summary>The desired-state handler, or null when none was set.</summary>
    internal DesiredStateHandler? DesiredHandler => Volatile.Read(ref _desiredHandler);

    /// <summary>Replaces the command handler.</summary>
    internal void SetCommandHandler(CommandHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Volatile.Write(ref _commandHandler, handler);
    }

    /// <summary>Replaces the desired-state handler and returns the latest stored change, which the caller should replay.</summary>
    internal DesiredStateChange? SetDesiredStateHandler(DesiredStateHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (_desiredLock)
        {
            Volatile.Write(ref _desiredHandler, handler);
            return _latestDesired;
        }
    }

    /// <summary>Stores <paramref name="change"/> only if it is newer than the stored one; false means it goes back and must be dropped.</summary>
    internal bool OfferNewerDesired(DesiredStateChange change)
    {
        lock (_desiredLock)
        {
            // Retained redelivery on reconnect and out-of-order publishes must never move the device backwards.
            if (_latestDesired is not null && change.Version <= _latestDesired.Version) return false;
            _latestDesired = change;
            return true;
        }
    }

    /// <summary>Stores <paramref name="change"/> as the latest whatever its version; delivery still never goes back.</summary>
    internal void ReplaceDesired(DesiredStateChange change)
    {
        lock (_desiredLock) _latestDesired = change;
    }

    /// <summary>Claims <paramref name="change"/> for delivery when a handler is set and its version was not delivered yet.</summary>
    internal bool TryBeginDelivery(DesiredStateChange change, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DesiredStateHandler? handler)
    {
        lock (_desiredLock)
        {
            handler = _desiredHandler;
            if (handler is null || change.Version <= _deliveredDesiredVersion) return false;
            _deliveredDesiredVersion = change.Version;
            return true;
        }
    }

    /// <summary>Claims the latest stored change for delivery when a handler is set and its version was not delivered yet.</summary>
    internal bool TryBeginLatestDelivery([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DesiredStateHandler? handler, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DesiredStateChange? change)
    {
        lock (_desiredLock)
        {
            handler = _desiredHandler;
            change = _latestDesired;
            if (handler is null || change is null || change.Version <= _deliveredDesiredVersion) return false;
            _deliveredDesiredVersion = change.Version;
            return true;
        }
    }

    /// <summary>
    /// Runs the command handler on a JSON payload: 501 without a handler, 400 when the payload is not JSON
    /// (<paramref name="notJsonError"/>), 500 when the handler throws; null when <paramref name="cancellationToken"/>
    /// cancelled it, so no reply is sent.
    /// </summary>
    internal async Task<CommandResponse?> RunCommandAsync(string name, ReadOnlyMemory<byte> payload, string notJsonError, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            JsonNode? json = null;
            // Strict: a lazily accepted duplicate key or invalid UTF-8 used to reach the handler and fail there as a 500.
            if (!payload.IsEmpty && !StrictJson.TryParse(payload.Span, out json))
                return new CommandResponse(400, new JsonObject { ["error"] = notJsonError });
            var command = new DeviceCommand { Name = name, Payload = json };
            var handler = CommandHandler;
            return handler is null ? NotImplemented : await handler(command, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            return new CommandResponse(400, new JsonObject { ["error"] = notJsonError });
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception ex)
        {
            Log.CommandHandlerFailed(logger, ex, ErrorText.Escape(name));
            return new CommandResponse(500, new JsonObject { ["error"] = "the command handler failed" });
        }
    }
}
