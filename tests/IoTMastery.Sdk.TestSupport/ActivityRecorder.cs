using System.Collections.Concurrent;
using System.Diagnostics;

namespace IoTMastery.Sdk.TestSupport;

/// <summary>
/// A real <see cref="ActivityListener"/> on the SDK's source for the life of a test. It starts a root span of its own, so
/// <see cref="Spans"/> holds only the SDK spans of this test's trace, even with other tests running at the same time.
/// Create it at the top of the test method: the root span becomes current for the rest of that method's flow.
/// </summary>
public sealed class ActivityRecorder : IDisposable
{
    // The literal, not the SDK constant, so the test reads the name users configure.
    public const string SdkSource = "IoTMastery.Sdk";
    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<Activity> _stopped = new();
    private readonly Activity _root;

    public ActivityRecorder()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == SdkSource,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { if (activity.Source.Name == SdkSource) _stopped.Enqueue(activity); },
        };
        ActivitySource.AddActivityListener(_listener);
        // A plain Activity, not one from a source: it exists whatever the listeners sample, and the SDK's spans become its children.
        _root = new Activity("IoTMastery.Sdk.Tests.Recorder").SetIdFormat(ActivityIdFormat.W3C).Start();
    }

    /// <summary>The SDK spans of this test's trace that have ended, in the order they ended.</summary>
    public IReadOnlyList<Activity> Spans => _stopped.Where(a => a.TraceId == _root.TraceId).ToList();

    /// <summary>Every SDK span that ended while this recorder listened, from any trace (for root spans such as batch sends).</summary>
    public IReadOnlyList<Activity> AllSpans => _stopped.ToList();

    /// <summary>The spans of this trace named <paramref name="operationName"/>.</summary>
    public IReadOnlyList<Activity> Named(string operationName) => Spans.Where(a => a.OperationName == operationName).ToList();

    public void Dispose()
    {
        _root.Dispose();
        _listener.Dispose();
    }
}

/// <summary>Reads span tags the way a backend would see them.</summary>
public static class ActivityTags
{
    public static object? Tag(this Activity activity, string name) => activity.GetTagItem(name);

    /// <summary>Every tag value of <paramref name="activities"/> and their status descriptions and names, for secret scans.</summary>
    public static IEnumerable<string> EveryValue(IEnumerable<Activity> activities) =>
        activities.SelectMany(a => a.TagObjects.Select(t => $"{t.Key}={t.Value}")
            .Append(a.StatusDescription ?? "").Append(a.DisplayName).Append(a.OperationName)
            .Concat(a.Baggage.Select(b => $"{b.Key}={b.Value}"))
            .Concat(a.Events.SelectMany(e => e.Tags.Select(t => $"{e.Name}:{t.Key}={t.Value}"))));
}

/// <summary>A real <c>MeterListener</c> on one SDK instrument, keeping every measurement with its tags.</summary>
public sealed class MeasurementRecorder : IDisposable
{
    private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
    private readonly ConcurrentQueue<(double Value, IReadOnlyDictionary<string, object?> Tags)> _measurements = new();

    public MeasurementRecorder(string instrumentName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == ActivityRecorder.SdkSource && instrument.Name == instrumentName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>((_, value, tags, _) => Add(value, tags));
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) => Add(value, tags));
        _listener.Start();
    }

    public IReadOnlyList<(double Value, IReadOnlyDictionary<string, object?> Tags)> Measurements => _measurements.ToList();

    /// <summary>Asks observable instruments for their current values (they report only when collected).</summary>
    public void Collect() => _listener.RecordObservableInstruments();

    private void Add(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var tag in tags) copy[tag.Key] = tag.Value;
        _measurements.Enqueue((value, copy));
    }

    public void Dispose() => _listener.Dispose();
}
