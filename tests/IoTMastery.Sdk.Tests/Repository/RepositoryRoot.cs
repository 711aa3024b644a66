namespace IoTMastery.Sdk.Tests.Repository;

/// <summary>The checkout the tests were built from: the folder above the test binaries that holds IoTMastery.Sdk.sln.</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    /// <summary>The C# files under <paramref name="folder"/> (default: src/), build output excluded, with their paths relative to the root in '/' form.</summary>
    public static IEnumerable<(string Relative, string[] Lines)> SourceFiles(string? folder = null)
    {
        foreach (var file in Directory.EnumerateFiles(folder ?? System.IO.Path.Combine(Path, "src"), "*.cs", SearchOption.AllDirectories))
        {
            var relative = System.IO.Path.GetRelativePath(Path, file).Replace('\\', '/');
            if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal)) continue;
            yield return (relative, File.ReadAllLines(file));
        }
    }

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "IoTMastery.Sdk.sln"))) return dir.FullName;
        throw new InvalidOperationException("IoTMastery.Sdk.sln was not found above " + AppContext.BaseDirectory);
    }
}
