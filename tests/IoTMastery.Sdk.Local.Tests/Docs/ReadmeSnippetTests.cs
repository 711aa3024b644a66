namespace IoTMastery.Sdk.Local.Tests.Docs;

public class ReadmeSnippetTests
{
    private const string Start = "// README-SNIPPET-START";
    private const string End = "// README-SNIPPET-END";

    [Fact]
    public void The_README_code_sample_is_the_compiled_sample()
    {
        var root = FindRepositoryRoot();
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        var sample = File.ReadAllText(Path.Combine(root, "samples", "ReadmeSnippet", "Program.cs")).ReplaceLineEndings("\n");

        Assert.Equal(Between(sample), Between(readme));
    }

    private static string Between(string text)
    {
        int start = text.IndexOf(Start, StringComparison.Ordinal);
        int end = text.IndexOf(End, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "snippet markers missing");
        return text[start..(end + End.Length)];
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "IoTMastery.Sdk.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("IoTMastery.Sdk.sln not found above " + AppContext.BaseDirectory);
    }
}
