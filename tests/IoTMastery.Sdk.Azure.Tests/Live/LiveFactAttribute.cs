namespace IoTMastery.Sdk.Azure.Tests.Live;

/// <summary>A test against a real IoT Hub: runs only when the named environment variables are set, and is skipped (the one allowed skip) otherwise.</summary>
public sealed class LiveFactAttribute : FactAttribute
{
    public const string ConnectionStringVariable = "IOTMASTERY_AZURE_IOTHUB_CONNECTION_STRING";
    public const string EventHubVariable = "IOTMASTERY_AZURE_EVENTHUB_CONNECTION_STRING";

    public LiveFactAttribute(params string[] variables)
    {
        var missing = (variables.Length == 0 ? [ConnectionStringVariable] : variables).Where(v => string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v))).ToList();
        if (missing.Count > 0) Skip = "Live Azure IoT Hub test: set " + string.Join(", ", missing) + " to run it.";
    }
}
