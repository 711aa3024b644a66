namespace IoTMastery.Sdk;

/// <summary>
/// A token bucket driven by a <see cref="TimeProvider"/>: <see cref="Take"/> may go into debt and
/// returns how long the caller must wait, so pacing never drops anything. Not thread-safe; one sender uses it.
/// </summary>
internal sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly double _ratePerSecond;
    private readonly double _burst;
    private double _tokens;
    private long _last;

    public TokenBucket(double ratePerSecond, double burst, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ratePerSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        _ratePerSecond = ratePerSecond;
        _burst = burst;
        _time = time;
        _tokens = burst;
        _last = time.GetTimestamp();
    }

    /// <summary>Takes <paramref name="amount"/> tokens; returns the wait before they may be used (zero when available now).</summary>
    public TimeSpan Take(double amount)
    {
        long now = _time.GetTimestamp();
        _tokens = Math.Min(_burst, _tokens + _time.GetElapsedTime(_last, now).TotalSeconds * _ratePerSecond);
        _last = now;
        _tokens -= amount;
        return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _ratePerSecond);
    }
}
