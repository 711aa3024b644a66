using System.Threading.Tasks.Sources;

namespace IoTMastery.Sdk;

/// <summary>
/// An auto-reset event for one waiter that allocates nothing per wait, so the batcher and sender
/// can park and wake without garbage. A <see cref="Set"/> with no waiter is remembered once.
/// </summary>
/// <param name="runWaiterInline">
/// When true, <see cref="Set"/> runs the parked waiter on the caller's thread until the waiter's next await, instead of
/// queueing it to the thread pool. Only for waiters that never block and only when no caller of <see cref="Set"/> holds a lock.
/// </param>
internal sealed class AsyncSignal(bool runWaiterInline = false) : IValueTaskSource
{
    private const int Idle = 0, Signaled = 1, Waiting = 2;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = !runWaiterInline };
    private int _state;
    private long _wakeups;

    /// <summary>Sets that woke a parked waiter (each one a thread-pool hop unless the waiter runs inline); a diagnostic for benchmarks.</summary>
    public long Wakeups => Interlocked.Read(ref _wakeups);

    public void Set()
    {
        while (true)
        {
            int state = Volatile.Read(ref _state);
            if (state == Signaled) return;
            if (state == Idle)
            {
                if (Interlocked.CompareExchange(ref _state, Signaled, Idle) == Idle) return;
            }
            else if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            {
                Interlocked.Increment(ref _wakeups);
                _core.SetResult(true);
                return;
            }
        }
    }

    /// <summary>Waits for the next <see cref="Set"/>; only one caller may wait at a time.</summary>
    public ValueTask WaitAsync()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Signaled) == Signaled) return default;
        _core.Reset();
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) == Idle) return new ValueTask(this, _core.Version);
        // A Set landed between the two exchanges; consume it instead of waiting.
        Volatile.Write(ref _state, Idle);
        return default;
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
