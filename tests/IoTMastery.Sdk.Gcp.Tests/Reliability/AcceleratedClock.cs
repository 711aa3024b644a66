using System.Diagnostics;

namespace IoTMastery.Sdk.Gcp.Tests.Reliability;

/// <summary>
/// A clock that starts at the real time and runs <see cref="SpeedUp"/> times faster, timers included. The device and the bridge
/// double share it, so a JWT of the SDK's shortest allowed lifetime (1 min) expires in seconds of test time while both
/// sides agree on <c>iat</c>/<c>exp</c>.
/// </summary>
internal sealed class AcceleratedClock(double speedUp) : TimeProvider
{
    private readonly DateTimeOffset _origin = DateTimeOffset.UtcNow;
    private readonly long _start = Stopwatch.GetTimestamp();

    public double SpeedUp { get; } = speedUp;

    public override DateTimeOffset GetUtcNow() => _origin + Stopwatch.GetElapsedTime(_start) * SpeedUp;

    public override long GetTimestamp() => _start + (long)((Stopwatch.GetTimestamp() - _start) * SpeedUp);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        new ScaledTimer(System.CreateTimer(callback, state, ToReal(dueTime), ToReal(period)), this);

    private TimeSpan ToReal(TimeSpan span) => span == Timeout.InfiniteTimeSpan ? span : span / SpeedUp;

    private sealed class ScaledTimer(ITimer inner, AcceleratedClock clock) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(clock.ToReal(dueTime), clock.ToReal(period));

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
