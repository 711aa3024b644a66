using Xunit;

namespace IoTMastery.Sdk.TestSupport;

/// <summary>
/// A test that runs only when <c>IOTM_LONG=1</c>: soaks and load tests too heavy for every CI run on 2 cores.
/// Without the variable it is reported as skipped, with the command that runs it, never as passed.
/// </summary>
public sealed class LongFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> unless the environment opts in.</summary>
    public LongFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("IOTM_LONG") != "1")
            Skip = "Long variant: set IOTM_LONG=1 to run it (see docs/RELIABILITY.md).";
    }
}
