namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>The packed nupkg installs with <c>dotnet tool install</c> from a local source and gives a working <c>iotm</c>.</summary>
public sealed class PackToolTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-pack-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Dotnet_tool_install_from_the_packed_nupkg_gives_a_working_iotm()
    {
        var packages = Path.Combine(_dir, "packages");
        var tools = Path.Combine(_dir, "tools");
        var bound = TimeSpan.FromMinutes(5);
        // --no-build packs exactly what the tests run against.
        var pack = await IotmProcess.RunFileAsync("dotnet",
            ["pack", IotmProcess.Metadata("CliProjectPath"), "-c", IotmProcess.Metadata("BuildConfiguration"), "--no-build", "-o", packages], bound: bound);
        Assert.True(pack.ExitCode == 0, pack.ToString());
        var nupkg = Assert.Single(Directory.GetFiles(packages, "IoTMastery.Sdk.Cli.*.nupkg"));
        var version = Path.GetFileNameWithoutExtension(nupkg)["IoTMastery.Sdk.Cli.".Length..];

        // A private package cache, so an older install of the same version cannot answer instead.
        var env = new Dictionary<string, string?> { ["NUGET_PACKAGES"] = Path.Combine(_dir, "nuget-cache") };
        var install = await IotmProcess.RunFileAsync("dotnet",
            ["tool", "install", "IoTMastery.Sdk.Cli", "--tool-path", tools, "--add-source", packages, "--version", version], env, bound: bound);
        Assert.True(install.ExitCode == 0, install.ToString());

        var iotm = await IotmProcess.RunFileAsync(Path.Combine(tools, "iotm"), ["--version"], env);
        Assert.True(iotm.ExitCode == 0, iotm.ToString());
        Assert.StartsWith(version, iotm.Stdout.Trim(), StringComparison.Ordinal);

        var cost = await IotmProcess.RunFileAsync(Path.Combine(tools, "iotm"), ["cost", "--devices", "10", "-o", "json"], env);
        Assert.True(cost.ExitCode == 0, cost.ToString());
        Assert.Contains("\"priceTableVersion\"", cost.Stdout, StringComparison.Ordinal);
    }
}
