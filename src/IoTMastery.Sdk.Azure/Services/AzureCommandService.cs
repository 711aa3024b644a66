namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Commands as IoT Hub direct methods. The hub's response timeout is the command timeout, which must be 5 s to 300 s:
/// a shorter one is refused rather than silently lengthened, so a caller's deadline is never quietly broken.
/// </summary>
internal sealed class AzureCommandService(IotHubServiceClient hub, TimeSpan connectTimeout) : IDeviceCommandService
{
    public async Task<CommandResponse> InvokeAsync(string deviceId, DeviceCommand command, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(command);
        command.Validate();
        if (command.Timeout < IotHubServiceClient.MinimumMethodTimeout)
            throw new ArgumentOutOfRangeException(nameof(command), command.Timeout,
                "DeviceCommand.Timeout must be at least 5 s on Azure IoT Hub: the hub's minimum direct-method response timeout is 5 s (maximum 300 s).");
        try
        {
            var result = await hub.InvokeMethodAsync(deviceId, command.Name, command.Payload, command.Timeout, connectTimeout, cancellationToken).ConfigureAwait(false);
            return new CommandResponse(result.Status, result.Payload);
        }
        catch (IoTException ex) when (ex.ErrorCode is "504101" or "504000")
        {
            throw IoTException.CommandTimeout(deviceId, command.Name, command.Timeout, IotHubErrors.Provider);
        }
    }
}
