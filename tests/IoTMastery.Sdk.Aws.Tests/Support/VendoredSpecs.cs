namespace IoTMastery.Sdk.Aws.Tests;

/// <summary>
/// The repository root and the published test vectors copied into tests/IoTMastery.Sdk.Aws.Tests/Specs (origins,
/// commits and licences in Specs/NOTICE.md). Everything the tests read is inside the repository, so a fresh clone runs them.
/// </summary>
internal static class VendoredSpecs
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Root { get; } = System.IO.Path.Combine(RepoRoot, "tests", "IoTMastery.Sdk.Aws.Tests", "Specs");

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "IoTMastery.Sdk.sln"))) return dir.FullName;
        throw new InvalidOperationException("IoTMastery.Sdk.sln was not found above " + AppContext.BaseDirectory);
    }
}
