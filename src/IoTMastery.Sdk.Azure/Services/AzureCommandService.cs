namespace IoTMastery.Sdk.Azure;

/// <summary>Commands as IoT Hub direct methods. The hub's response timeout is the command timeout (at least 5 s, the hub's minimum).</summary>
internal sealed class AzureCommandService(IotHubServiceClient hub, TimeSpan connectTimeout) : IDeviceCommandService
{
    private static readonly TimeSpan HubMinimumTimeout = TimeSpan.FromSeconds(5);

    public async Task<CommandResponse> InvokeAsync(string deviceId, DeviceCommand command, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(command);
        command.Validate();
        var timeout = command.Timeout < HubMinimumTimeout ? HubMinimumTimeout : command.Timeout;
        try
        {
            var result = await hub.InvokeMethodAsync(deviceId, command.Name, command.Payload, timeout, connectTimeout, cancellationToken).ConfigureAwait(false);
            return new CommandResponse(result.Status, result.Payload);
        }
        catch (IoTException ex) when (ex.ErrorCode is "504101" or "504000")
        {
            throw new CommandTimeoutException(deviceId, command.Name, command.Timeout, IotHubErrors.Provider);
        }
    }
}
