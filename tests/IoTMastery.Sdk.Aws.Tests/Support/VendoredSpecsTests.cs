using System.Security.Cryptography;

namespace IoTMastery.Sdk.Aws.Tests;

/// <summary>
/// The vendored vectors are the upstream bytes: every file listed in Specs/SHA256SUMS is present with its hash, nothing
/// unlisted is there, and each set keeps its licence. An editor's line-ending or whitespace fix would break the suites silently otherwise.
/// </summary>
public sealed class VendoredSpecsTests
{
    private static readonly string[] OwnFiles = ["SHA256SUMS", "NOTICE.md", ".gitattributes"];

    [Fact]
    public void Every_vendored_file_is_listed_with_its_upstream_hash()
    {
        var listed = File.ReadAllLines(VendoredSpecs.Path("SHA256SUMS"))
            .Select(line => line.Split("  ./", 2))
            .ToDictionary(parts => parts[1], parts => parts[0], StringComparer.Ordinal);
        var present = Directory.EnumerateFiles(VendoredSpecs.Root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(VendoredSpecs.Root, f).Replace('\\', '/'))
            .Where(f => !OwnFiles.Contains(f)).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(listed.Keys.Order(StringComparer.Ordinal), present.Order(StringComparer.Ordinal));
        var changed = listed.Where(e => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(VendoredSpecs.Path(e.Key)))) != e.Value).Select(e => e.Key).ToList();
        Assert.True(changed.Count == 0, "Vendored files differ from the upstream bytes: " + string.Join(", ", changed));
    }

    [Theory]
    [InlineData("aws-sigv4-testsuite", "LICENSE")]
    [InlineData("aws-c-auth-sigv4", "LICENSE")]
    [InlineData("botocore", "LICENSE.txt")]
    public void Each_set_keeps_its_licence_and_notice(string set, string licence)
    {
        Assert.Contains("Apache License", File.ReadAllText(VendoredSpecs.Path(set, licence)), StringComparison.Ordinal);
        Assert.Contains("Amazon.com", File.ReadAllText(VendoredSpecs.Path(set, "NOTICE")), StringComparison.Ordinal);
    }
}
