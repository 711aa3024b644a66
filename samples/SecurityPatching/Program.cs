namespace SecurityPatchingSample;

/// <summary>Runs the security-patching walkthrough once and exits 0 when every step ended as expected.</summary>
public static class Program
{
    /// <summary>Entry point; bounded to two minutes, it takes a few seconds.</summary>
    public static async Task<int> Main()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var outcome = await PatchingWalkthrough.RunAsync(Console.Out, bound.Token);
        return outcome.AsExpected ? 0 : 1;
    }
}
