using IoTMastery.Sdk.Gcp;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>The SDK's (internal) Pub/Sub client pointed at a running emulator, for the tests of that client.</summary>
internal static class PubSubEmulatorClient
{
    /// <summary>A client on the emulator's project, sending no credentials (the emulator takes none).</summary>
    public static PubSubClient CreateClient(this PubSubEmulator emulator, TimeProvider? time = null) =>
        new(emulator.Http, emulator.ProjectId, emulator.BaseUrl, NoAuthenticator.Instance, time);
}
