namespace IoTMastery.Sdk.Gcp.Tests;

// xunit finds collection definitions only in the test assembly, so this stays here while PubSubEmulator lives in CloudDoubles.
[CollectionDefinition(Name)]
public sealed class PubSubEmulatorCollection : ICollectionFixture<PubSubEmulator>
{
    public const string Name = "pubsub-emulator";
}
