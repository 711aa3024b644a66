using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace IoTMastery.Sdk.TestSupport;

/// <summary>
/// Listens to the SDK's <c>iotmastery.http.retries</c> counter for the life of a test and sums it per
/// <c>provider</c> tag. Tests in other classes may retry at the same time, so callers compare with what their own
/// proxy saw (at least) or use a provider name no one else uses (exactly).
/// </summary>
public sealed class HttpRetryCounter : IDisposable
{
    // The literal, not the SDK constant, so the test reads the name users configure.
    public const string InstrumentName = "iotmastery.http.retries";
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _byProvider = new(StringComparer.Ordinal);

    public HttpRetryCounter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "IoTMastery.Sdk" && instrument.Name == InstrumentName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "provider" && tag.Value is string provider) _byProvider.AddOrUpdate(provider, value, (_, sum) => sum + value);
            }
        });
        _listener.Start();
    }

    /// <summary>Retries counted for <paramref name="provider"/> since this listener started.</summary>
    public long For(string provider) => _byProvider.GetValueOrDefault(provider);

    public void Dispose() => _listener.Dispose();
}
