using IoTMastery.Sdk.CloudDoubles.Moto;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>The environment that names moto as the tool's provider <c>IoT:Aws:eu</c>, as an operator's shell would configure it.</summary>
internal static class MotoCliEnvironment
{
    // The same section names as AddIoT().AddAws("eu", configuration.GetSection("IoT:Aws:eu")); credentials from the standard chain.
    // Only the keys every AWS option layout shares, so this stays valid whatever the transport options are called.
    public static Dictionary<string, string?> For(MotoServer moto) => new()
    {
        ["IOTM_IoT__Aws__eu__Region"] = "us-east-1",
        ["IOTM_IoT__Aws__eu__ControlPlaneEndpoint"] = moto.Endpoint.ToString(),
        ["IOTM_IoT__Aws__eu__DataPlaneEndpoint"] = moto.Endpoint.ToString(),
        ["AWS_ACCESS_KEY_ID"] = "testing",
        ["AWS_SECRET_ACCESS_KEY"] = "testing",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };
}
