using System.Reflection;
using System.Xml.Linq;

namespace IoTMastery.Sdk.Tests.Repository;

/// <summary>
/// The repository stands on its own: nothing in it reads or cites files outside it (a fresh clone has no
/// neighbouring folders), and the projects declare only what they use, so a package pulls in no dependency
/// its code never touches.
/// </summary>
public sealed class SelfContainedRepositoryTests
{
    // Notes that once lived beside the repository; citing them sends a reader (or a test) to a file a clone does not have.
    private static readonly string[] OutsideReferences =
    [
        "../" + "shared", @"..\" + "shared", "shared/" + "reference", @"shared\" + "reference",
        "aws-iot" + ".md", "gcp-style" + ".md", "test-oracles" + ".md", "azure-iot-hub" + ".md", "limits-and-costs" + ".md",
    ];

    private static readonly HashSet<string> SkippedFolders = new(StringComparer.Ordinal) { ".git", "bin", "obj", "node_modules", "artifacts", "TestResults", "BenchmarkDotNet.Artifacts" };

    /// <summary>
    /// Packages a library references only to pin a transitive dependency's version: they are in the package's
    /// dependency list on purpose although no code of the library calls them.
    /// </summary>
    private static readonly HashSet<string> VersionPins = new(StringComparer.Ordinal) { "Microsoft.Azure.Amqp" };

    public static TheoryData<string> Libraries() =>
        new(["IoTMastery.Sdk", "IoTMastery.Sdk.Mqtt", "IoTMastery.Sdk.Local", "IoTMastery.Sdk.Aws", "IoTMastery.Sdk.Azure", "IoTMastery.Sdk.Gcp"]);

    private static readonly Dictionary<string, Assembly> Assemblies = new(StringComparer.Ordinal)
    {
        ["IoTMastery.Sdk"] = typeof(IoTException).Assembly,
        ["IoTMastery.Sdk.Mqtt"] = typeof(Mqtt.MqttDeviceClient).Assembly,
        ["IoTMastery.Sdk.Local"] = typeof(Local.LocalIoTProvider).Assembly,
        ["IoTMastery.Sdk.Aws"] = typeof(Aws.AwsIoTProvider).Assembly,
        ["IoTMastery.Sdk.Azure"] = typeof(Azure.AzureIoTProvider).Assembly,
        ["IoTMastery.Sdk.Gcp"] = typeof(Gcp.GcpIoTProvider).Assembly,
    };

    [Fact]
    public void No_file_reads_or_cites_anything_outside_the_repository()
    {
        var root = RepositoryRoot.Path;
        var self = Path.Combine(root, "tests", "IoTMastery.Sdk.Tests", "Repository", nameof(SelfContainedRepositoryTests) + ".cs");
        var hits = new List<string>();
        var scanned = 0;
        foreach (var file in Files(root))
        {
            if (file == self || new FileInfo(file).Length > 4_000_000) continue;
            scanned++;
            var lineNumber = 0;
            foreach (var line in File.ReadLines(file))
            {
                lineNumber++;
                foreach (var reference in OutsideReferences)
                    if (line.Contains(reference, StringComparison.OrdinalIgnoreCase))
                        hits.Add($"{Path.GetRelativePath(root, file)}:{lineNumber}: {reference}");
            }
        }
        Assert.True(scanned > 200, $"only {scanned} files were scanned under {root}");
        Assert.True(hits.Count == 0, "Files that point outside the repository:\n" + string.Join("\n", hits));
    }

    [Theory]
    [MemberData(nameof(Libraries))]
    public void Every_package_a_library_references_is_used_by_its_code(string library)
    {
        var project = XDocument.Load(Path.Combine(RepositoryRoot.Path, "src", library, library + ".csproj"));
        var referenced = Assemblies[library].GetReferencedAssemblies().Select(a => a.Name!).ToHashSet(StringComparer.Ordinal);
        // Each package here ships one assembly named like the package, so an unused package is one the compiler did not reference.
        var unused = project.Descendants("PackageReference").Select(p => (string)p.Attribute("Include")!)
            .Where(package => !VersionPins.Contains(package) && !referenced.Contains(package)).ToList();
        Assert.True(unused.Count == 0, $"{library} references packages its code never uses: {string.Join(", ", unused)}");
    }

    [Fact]
    public void Internals_are_visible_only_to_projects_that_exist()
    {
        var root = RepositoryRoot.Path;
        var projects = Files(root).Where(f => f.EndsWith(".csproj", StringComparison.Ordinal)).Select(Path.GetFileNameWithoutExtension).ToHashSet(StringComparer.Ordinal);
        var missing = Files(root).Where(f => f.EndsWith(".csproj", StringComparison.Ordinal))
            .SelectMany(f => XDocument.Load(f).Descendants("InternalsVisibleTo").Select(i => (Project: Path.GetFileName(f), Friend: (string)i.Attribute("Include")!)))
            .Where(i => !projects.Contains(i.Friend)).Select(i => $"{i.Project} → {i.Friend}").ToList();
        Assert.True(missing.Count == 0, "InternalsVisibleTo names projects that do not exist: " + string.Join(", ", missing));
    }

    [Fact]
    public void No_project_is_referenced_twice()
    {
        var duplicates = Files(RepositoryRoot.Path).Where(f => f.EndsWith("proj", StringComparison.Ordinal))
            .SelectMany(f => XDocument.Load(f).Descendants("ProjectReference")
                .GroupBy(r => ((string)r.Attribute("Include")!).Replace('\\', '/'), StringComparer.OrdinalIgnoreCase)
                .Where(g => g.Count() > 1).Select(g => $"{Path.GetFileName(f)} → {g.Key}"))
            .ToList();
        Assert.True(duplicates.Count == 0, "Duplicate project references: " + string.Join(", ", duplicates));
    }

    private static IEnumerable<string> Files(string folder)
    {
        foreach (var file in Directory.EnumerateFiles(folder)) yield return file;
        foreach (var sub in Directory.EnumerateDirectories(folder))
            if (!SkippedFolders.Contains(Path.GetFileName(sub)))
                foreach (var file in Files(sub)) yield return file;
    }
}
