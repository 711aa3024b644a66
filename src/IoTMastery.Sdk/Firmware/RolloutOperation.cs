namespace IoTMastery.Sdk;

/// <summary>
/// A handle on a running rollout, returned by <see cref="IFirmwareService.StartRolloutAsync"/> (or reattached by id with
/// <see cref="ResumeAsync"/>): read its latest state, or wait until it ends while receiving each new state.
/// </summary>
/// <remarks>
/// <para>Waiting is driven by the firmware engine where it can signal: every time the engine stores a change to a rollout
/// (a device report it learns of as it arrives, as the Local provider does, or any other caller reading or cancelling the
/// rollout) the waiter re-reads at once. Where no such signal exists (a cloud provider learns of device reports only when
/// the rollout is read), the waiter reads the rollout every poll interval, measured on the provider's
/// <see cref="TimeProvider"/>; each read applies the rollout's rules, so the rollout advances while it is waited on.</para>
/// <para>Like the Azure SDK's operations, members are virtual and a protected constructor exists so tests can subclass
/// it without a mocking library.</para>
/// </remarks>
public class RolloutOperation
{
    /// <summary>The poll interval of <see cref="WaitForCompletionAsync(IProgress{Rollout}, CancellationToken)"/> when nothing signals sooner.</summary>
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(2);

    private readonly IFirmwareService _firmware = null!;
    private readonly RolloutChangeSignal? _signal;
    private readonly TimeProvider _time = TimeProvider.System;
    private Rollout _value = null!;

    /// <summary>For subclasses in tests (mocking); a subclass overrides the members it uses.</summary>
    protected RolloutOperation()
    {
    }

    internal RolloutOperation(IFirmwareService firmware, Rollout initial)
    {
        _firmware = firmware;
        _value = initial;
        // The engine (directly or behind a wrapper) signals its stored changes and owns the provider's clock.
        if (firmware is IRolloutChangeSource source)
        {
            _signal = source.Changes;
            _time = source.Time;
        }
    }

    /// <summary>The rollout id.</summary>
    public virtual string Id => _value.Id;

    /// <summary>The rollout as last read (at start, or by the latest <see cref="UpdateStatusAsync"/> or wait).</summary>
    public virtual Rollout Value => _value;

    /// <summary>Whether the rollout has ended (completed, stopped or cancelled) as last read.</summary>
    public virtual bool HasCompleted => _value.Status != RolloutStatus.InProgress;

    /// <summary>Reattaches to a rollout by id, for example in another process or after a restart.</summary>
    /// <param name="firmware">The provider's firmware service.</param>
    /// <param name="rolloutId">The rollout id from <see cref="Id"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.NotFound"/>: No such rollout.</exception>
    public static async Task<RolloutOperation> ResumeAsync(IFirmwareService firmware, string rolloutId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(firmware);
        var current = await firmware.GetRolloutAsync(rolloutId, cancellationToken).ConfigureAwait(false);
        return new RolloutOperation(firmware, current);
    }

    /// <summary>Reads the rollout now (applying its rules, so it may advance) and keeps the result in <see cref="Value"/>.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    public virtual async Task<Rollout> UpdateStatusAsync(CancellationToken cancellationToken = default)
    {
        _value = await _firmware.GetRolloutAsync(_value.Id, cancellationToken).ConfigureAwait(false);
        return _value;
    }

    /// <summary>
    /// Waits until the rollout ends, reporting each new state to <paramref name="progress"/>; polls every
    /// <see cref="DefaultPollInterval"/> when nothing signals sooner.
    /// </summary>
    /// <param name="progress">Receives the state read first and every state that differs from the one before.</param>
    /// <param name="cancellationToken">Stops waiting (the rollout goes on); bound it, a rollout can take as long as its device timeouts allow.</param>
    /// <returns>The ended rollout.</returns>
    public virtual Task<Rollout> WaitForCompletionAsync(IProgress<Rollout>? progress = null, CancellationToken cancellationToken = default) =>
        WaitForCompletionAsync(DefaultPollInterval, progress, cancellationToken);

    /// <summary>Waits until the rollout ends, reading it at least every <paramref name="pollInterval"/>.</summary>
    /// <param name="pollInterval">The longest time between two reads when nothing signals sooner; positive.</param>
    /// <param name="progress">Receives the state read first and every state that differs from the one before.</param>
    /// <param name="cancellationToken">Stops waiting (the rollout goes on).</param>
    /// <returns>The ended rollout.</returns>
    public virtual async Task<Rollout> WaitForCompletionAsync(TimeSpan pollInterval, IProgress<Rollout>? progress, CancellationToken cancellationToken = default)
    {
        if (pollInterval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(pollInterval), pollInterval, "The poll interval must be positive.");
        Rollout? reported = null;
        while (true)
        {
            // Taken before the read: a change stored while reading completes this task, so no signal is lost.
            var changed = _signal?.Next ?? Task.CompletedTask;
            var current = await UpdateStatusAsync(cancellationToken).ConfigureAwait(false);
            if (reported is null || !SameState(reported, current))
            {
                progress?.Report(current);
                reported = current;
            }
            if (current.Status != RolloutStatus.InProgress)
                return current;

            if (_signal is null)
            {
                await Task.Delay(pollInterval, _time, cancellationToken).ConfigureAwait(false);
                continue;
            }
            using var tick = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(pollInterval, _time, tick.Token);
            await Task.WhenAny(changed, delay).ConfigureAwait(false);
            // Ends the timer when the signal won; observes the caller's cancellation when it lost.
            await tick.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Two reads show the same progress: the same status, wave and per-device statuses.</summary>
    private static bool SameState(Rollout a, Rollout b) =>
        a.Status == b.Status && a.CurrentWave == b.CurrentWave && a.Devices.Count == b.Devices.Count &&
        a.Devices.Zip(b.Devices).All(p => p.First.DeviceId == p.Second.DeviceId && p.First.Status == p.Second.Status);
}

/// <summary>A firmware service that signals stored rollout changes: the engine, and wrappers that forward it.</summary>
internal interface IRolloutChangeSource
{
    /// <summary>Completes a task each time a rollout change is stored; <see langword="null"/> when nothing can signal (a wrapper around another service).</summary>
    RolloutChangeSignal? Changes { get; }

    /// <summary>The provider's clock, for the poll fallback.</summary>
    TimeProvider Time { get; }
}

/// <summary>
/// A broadcast "something changed" signal: <see cref="Next"/> completes at the next <see cref="Signal"/>. Waiters take
/// <see cref="Next"/> before they read, so a change between their read and their wait is never missed.
/// </summary>
internal sealed class RolloutChangeSignal
{
    private TaskCompletionSource _next = NewSource();

    /// <summary>Completes at the next <see cref="Signal"/>.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    /// <summary>Wakes every current waiter; later waiters wait for the next signal.</summary>
    public void Signal() => Interlocked.Exchange(ref _next, NewSource()).TrySetResult();

    // Continuations run on the thread pool, never inline in the engine's evaluation.
    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
