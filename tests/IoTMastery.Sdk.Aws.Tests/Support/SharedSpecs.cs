namespace IoTMastery.Sdk.Aws.Tests;

/// <summary>Locates ../shared/reference (spec vectors) beside the repository, never copied into it.</summary>
internal static class SharedSpecs
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Root { get; } = FindShared();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "IoTMastery.Sdk.sln"))) return dir.FullName;
        throw new InvalidOperationException("IoTMastery.Sdk.sln was not found above " + AppContext.BaseDirectory);
    }

    // CI has shared/ beside the clone; a git worktree may sit one level deeper, so every ancestor is tried.
    private static string FindShared()
    {
        for (var dir = new DirectoryInfo(RepoRoot); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "shared", "reference", "specs");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException($"shared/reference/specs was not found beside {RepoRoot} or any ancestor; CI must check it out next to the repository.");
    }
}
