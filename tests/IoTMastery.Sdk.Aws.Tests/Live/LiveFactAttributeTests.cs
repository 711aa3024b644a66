namespace IoTMastery.Sdk.Aws.Tests.Live;

/// <summary>The live opt-in skips only when the variable is missing, and says how to opt in.</summary>
public sealed class LiveFactAttributeTests
{
    [Fact]
    public void Skips_only_without_the_variable()
    {
        var original = Environment.GetEnvironmentVariable(LiveFactAttribute.Variable);
        try
        {
            Environment.SetEnvironmentVariable(LiveFactAttribute.Variable, null);
            Assert.Contains("AWS_IOT_LIVE_TEST=1", new LiveFactAttribute().Skip);
            Environment.SetEnvironmentVariable(LiveFactAttribute.Variable, "1");
            Assert.Null(new LiveFactAttribute().Skip);
        }
        finally
        {
            Environment.SetEnvironmentVariable(LiveFactAttribute.Variable, original);
        }
    }
}
