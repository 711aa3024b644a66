namespace IoTMastery.Sdk.Tests.Repository;

/// <summary>
/// The four provider packages keep one cast of files (CONTRIBUTING.md, "Architecture"): the same folder for the same role,
/// provider-only folders only from the documented list, and at the root only the provider and its options.
/// </summary>
public sealed class ProviderLayoutTests
{
    private static readonly string[] Providers = ["Local", "Aws", "Azure", "Gcp"];

    private static readonly HashSet<string> SharedFolders = new(StringComparer.Ordinal)
    {
        "DependencyInjection", "Services", "Devices", "Wire", "Credentials", "Errors",
    };

    // Keep in step with the provider-only table in CONTRIBUTING.md.
    private static readonly Dictionary<string, string[]> ProviderOnlyFolders = new(StringComparer.Ordinal)
    {
        ["Local"] = ["Broker", "Storage"],
        ["Azure"] = ["Provisioning"],
    };

    public static TheoryData<string> Packages => [.. Providers];

    [Theory]
    [MemberData(nameof(Packages))]
    public void A_provider_package_uses_only_the_shared_folders_and_its_documented_own_ones(string provider)
    {
        var root = Path.Combine(RepositoryRoot.Path, "src", "IoTMastery.Sdk." + provider);
        var allowed = new HashSet<string>(SharedFolders, StringComparer.Ordinal);
        allowed.UnionWith(ProviderOnlyFolders.GetValueOrDefault(provider, []));
        var folders = Directory.EnumerateDirectories(root).Select(p => Path.GetFileName(p)).Where(n => n is not ("bin" or "obj")).ToList();

        Assert.Contains("DependencyInjection", folders);
        Assert.Contains("Services", folders);
        Assert.Contains("Devices", folders);
        Assert.Equal(Array.Empty<string>(), folders.Where(f => !allowed.Contains(f)).ToArray());
        // Nested folders would hide a second layout inside the first.
        Assert.Equal(Array.Empty<string>(), folders.Where(f => Directory.EnumerateDirectories(Path.Combine(root, f)).Any()).ToArray());
    }

    [Theory]
    [MemberData(nameof(Packages))]
    public void The_package_root_holds_only_the_provider_and_its_options(string provider)
    {
        var root = Path.Combine(RepositoryRoot.Path, "src", "IoTMastery.Sdk." + provider);
        var files = Directory.EnumerateFiles(root, "*.cs").Select(p => Path.GetFileName(p)).ToList();

        Assert.Contains($"{provider}IoTProvider.cs", files);
        Assert.Contains($"{provider}IoTOptions.cs", files);
        Assert.Equal(Array.Empty<string>(), files.Where(f => f != $"{provider}IoTProvider.cs" && !f.EndsWith("Options.cs", StringComparison.Ordinal)).ToArray());
    }

    [Fact]
    public void Contributing_describes_every_provider_only_folder()
    {
        var contributing = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "CONTRIBUTING.md"));
        foreach (var (provider, folders) in ProviderOnlyFolders)
            foreach (var folder in folders)
                Assert.Contains($"| {provider} | `{folder}/` |", contributing);
    }
}
