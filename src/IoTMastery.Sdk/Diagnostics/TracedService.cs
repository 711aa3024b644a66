using System.Diagnostics;

namespace IoTMastery.Sdk.Diagnostics;

/// <summary>
/// The shared body of the tracing decorators: one span per call, named for the operation, tagged with the provider and
/// device, and marked failed with the exception's type. Calls nobody listens to go straight to the inner service.
/// </summary>
internal abstract class TracedService(string provider)
{
    protected string Provider { get; } = provider;

    protected Task<T> TraceAsync<T>(string operation, string? deviceId, Func<Task<T>> call, Action<Activity, T>? enrich = null) =>
        SdkActivitySource.Source.HasListeners() ? TraceCoreAsync(operation, deviceId, call, enrich) : call();

    protected Task TraceAsync(string operation, string? deviceId, Func<Task> call) =>
        SdkActivitySource.Source.HasListeners() ? TraceCoreAsync(operation, deviceId, call) : call();

    // Async so the span is Activity.Current only inside this call's flow, never left behind in the caller's.
    private async Task<T> TraceCoreAsync<T>(string operation, string? deviceId, Func<Task<T>> call, Action<Activity, T>? enrich)
    {
        using var activity = SdkActivitySource.StartOperation(operation, Provider, deviceId);
        try
        {
            var result = await call().ConfigureAwait(false);
            if (activity is not null) enrich?.Invoke(activity, result);
            return result;
        }
        catch (Exception ex)
        {
            SdkActivitySource.RecordFailure(activity, ex);
            throw;
        }
    }

    private async Task TraceCoreAsync(string operation, string? deviceId, Func<Task> call)
    {
        using var activity = SdkActivitySource.StartOperation(operation, Provider, deviceId);
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            SdkActivitySource.RecordFailure(activity, ex);
            throw;
        }
    }
}
