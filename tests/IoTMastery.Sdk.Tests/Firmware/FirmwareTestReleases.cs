namespace IoTMastery.Sdk.Tests.Firmware;

/// <summary>Releases for engine tests whose devices never download the image: only the version matters.</summary>
internal static class FirmwareTestReleases
{
    public static FirmwareRelease Release(string version) => new()
    {
        Version = version,
        Uri = new Uri($"https://fw.example.test/{version}.bin"),
        Sha256 = new string('a', 64),
        SizeBytes = 100,
    };
}
