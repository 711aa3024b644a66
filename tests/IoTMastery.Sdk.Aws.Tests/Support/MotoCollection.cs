namespace IoTMastery.Sdk.Aws.Tests;

// xunit finds collection definitions only in the test assembly, so this stays here while MotoServer lives in CloudDoubles.
[CollectionDefinition(Name)]
public sealed class MotoCollection : ICollectionFixture<MotoServer>
{
    public const string Name = "moto";
}
