using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace IoTMastery.Sdk.Cli;

/// <summary>Where results go: a table for people, or stable JSON (documented in README.md) for scripts.</summary>
internal sealed class Output
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonSerializerOptions JsonLine = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly IAnsiConsole _console;

    public Output(bool json, TextWriter writer)
    {
        IsJson = json;
        Writer = writer;
        _console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            // Plain text when redirected, so a table in a log or a pipe carries no escape codes.
            Ansi = Console.IsOutputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = Console.IsOutputRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = InteractionSupport.No,
        });
        if (Console.IsOutputRedirected) _console.Profile.Width = 240;
    }

    public bool IsJson { get; }
    public TextWriter Writer { get; }

    /// <summary>Writes one JSON document (json) or the table <paramref name="rows"/> (table).</summary>
    public void Write(JsonNode document, string[] columns, IEnumerable<string?[]> rows)
    {
        if (IsJson)
        {
            Writer.WriteLine(document.ToJsonString(Json));
            return;
        }
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var c in columns) table.AddColumn(new TableColumn(Markup.Escape(c)));
        foreach (var row in rows) table.AddRow(row.Select(v => new Text(v ?? "")).ToArray());
        _console.Write(table);
    }

    /// <summary>Key/value view of one object (table) or the object itself (json).</summary>
    public void WriteObject(JsonObject document)
    {
        Write(document, ["field", "value"], document.Select(p => new[] { p.Key, p.Value switch
        {
            null => "",
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            var other => other.ToJsonString(JsonLine),
        } }));
    }

    /// <summary>One line of a stream (telemetry, progress): a JSON line, or a text line.</summary>
    public void WriteLine(JsonNode jsonLine, string text)
    {
        Writer.WriteLine(IsJson ? jsonLine.ToJsonString(JsonLine) : text);
        Writer.Flush();
    }
}
