namespace IoTMastery.Sdk.Tests.Repository;

/// <summary>The checkout the tests were built from: the folder above the test binaries that holds IoTMastery.Sdk.sln.</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "IoTMastery.Sdk.sln"))) return dir.FullName;
        throw new InvalidOperationException("IoTMastery.Sdk.sln was not found above " + AppContext.BaseDirectory);
    }
}
