using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace IoTMastery.Sdk;

/// <summary>
/// A non-recursive mutual-exclusion gate for critical sections of a few instructions: one compare-exchange to enter and
/// a plain release store to leave. The pipeline's intake takes its gate once per record; <see cref="Lock"/> costs two
/// interlocked operations and two thread-id lookups per enter/exit pair, which the e2e profile showed as a visible
/// share of the pipeline's per-record CPU over the pre-encoded ceiling. A waiter spins briefly, then yields and sleeps
/// (<see cref="SpinWait"/>), so a holder preempted on a busy machine gets its core back.
/// </summary>
/// <remarks>
/// Only for sections that never block, never await, never take the gate again, and run no foreign code (no synchronous
/// continuations). Held in a mutable field: a copy would be a different gate.
/// </remarks>
internal struct SpinGate
{
    private int _taken;

    /// <summary>Enters the gate; dispose the scope (a <c>using</c>) to leave it.</summary>
    [UnscopedRef]
    public Scope Enter()
    {
        if (Interlocked.CompareExchange(ref _taken, 1, 0) != 0) EnterContended();
        return new Scope(ref _taken);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterContended()
    {
        var spin = new SpinWait();
        do spin.SpinOnce();
        while (Volatile.Read(ref _taken) != 0 || Interlocked.CompareExchange(ref _taken, 1, 0) != 0);
    }

    /// <summary>Leaves the gate when disposed.</summary>
    public readonly ref struct Scope
    {
        private readonly ref int _taken;

        internal Scope(ref int taken) => _taken = ref taken;

        /// <summary>Leaves the gate.</summary>
        public void Dispose() => Volatile.Write(ref _taken, 0);
    }
}
