namespace IoTMastery.Sdk.Aws.Tests.Live;

/// <summary>
/// A test against a real AWS account: runs only when <c>AWS_IOT_LIVE_TEST</c> is set (credentials and region come from
/// the standard chain), and otherwise skips with the reason — the one allowed skip.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LiveFactAttribute : FactAttribute
{
    /// <summary>The opt-in environment variable.</summary>
    public const string Variable = "AWS_IOT_LIVE_TEST";

    /// <summary>Skips unless <see cref="Variable"/> is set.</summary>
    public LiveFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable)))
            Skip = $"Live AWS IoT test: set {Variable}=1 with AWS credentials (standard chain) and AWS_REGION to run it against a real account; it creates and deletes things named iotm-live-*.";
    }
}
