using System.Diagnostics;

namespace IoTMastery.Sdk.TestSupport;

/// <summary>How one call under faults ended.</summary>
/// <param name="Error">The exception, or null for success; a <see cref="TimeoutException"/> from the hard cap means the call hung.</param>
/// <param name="Elapsed">Wall time of the call.</param>
public sealed record FaultOutcome(Exception? Error, TimeSpan Elapsed)
{
    /// <summary>"ok" or the exception type and error code, for the fault matrix.</summary>
    public string Describe() => Error switch
    {
        null => "ok",
        IoTException io => $"{io.GetType().Name}({io.ErrorCode}, transient={io.IsTransient})",
        _ => "UNTYPED " + Error.GetType().Name + ": " + Error.Message,
    };
}

/// <summary>Runs a call under faults with a hard cap so a hang fails the test instead of stalling it.</summary>
public static class FaultCall
{
    /// <summary>Runs <paramref name="call"/>, waiting at most <paramref name="hardCap"/>.</summary>
    public static async Task<FaultOutcome> RunAsync(Func<Task> call, TimeSpan hardCap)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            await call().WaitAsync(hardCap).ConfigureAwait(false);
            return new FaultOutcome(null, clock.Elapsed);
        }
        catch (Exception ex)
        {
            return new FaultOutcome(ex, clock.Elapsed);
        }
    }
}
