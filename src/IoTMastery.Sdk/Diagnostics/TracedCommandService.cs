using System.Diagnostics;

namespace IoTMastery.Sdk.Diagnostics;

/// <summary>
/// Traces and times every command of any provider's <see cref="IDeviceCommandService"/>: a <c>command.invoke</c> span
/// (command name, reply status) and a point on <see cref="IoTDiagnostics.CommandDuration"/> tagged with the provider and
/// the outcome. The payloads of the command and the reply are never tagged.
/// </summary>
internal sealed class TracedCommandService(IDeviceCommandService inner, string provider, TimeProvider time) : IDeviceCommandService
{
    private readonly KeyValuePair<string, object?> _providerTag = new(SdkInstruments.ProviderTag, provider);

    internal IDeviceCommandService Inner => inner;

    public async Task<CommandResponse> InvokeAsync(string deviceId, DeviceCommand command, CancellationToken cancellationToken = default)
    {
        // Measured on the provider's clock, so a test on a fake clock sees the exact command timeout it advanced.
        var started = time.GetTimestamp();
        using var activity = SdkActivitySource.StartOperation("command.invoke", provider, deviceId);
        if (activity is not null && command?.Name is { } name) activity.SetTag(SdkActivitySource.CommandNameTag, name);
        Exception? failure = null;
        try
        {
            var response = await inner.InvokeAsync(deviceId, command!, cancellationToken).ConfigureAwait(false);
            activity?.SetTag(SdkActivitySource.CommandStatusTag, response.Status);
            return response;
        }
        catch (Exception ex)
        {
            failure = ex;
            SdkActivitySource.RecordFailure(activity, ex);
            throw;
        }
        finally
        {
            SdkInstruments.CommandDuration.Record(time.GetElapsedTime(started).TotalMilliseconds,
                _providerTag, new KeyValuePair<string, object?>(SdkInstruments.OutcomeTag, SdkInstruments.CommandOutcome(failure)));
        }
    }
}
