using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;

namespace IoTMastery.Sdk.Cli;

/// <summary>The <c>iotm</c> command tree; every command's failure goes through <see cref="ExitCodes.For"/>.</summary>
internal static partial class IotmApp
{
    internal static readonly Option<string?> ConfigOption = new("--config") { Description = "appsettings-style JSON file with IoT:<Provider>:<name> sections", Recursive = true };
    internal static readonly Option<string?> ProviderOption = new("--provider", "-p") { Description = "local | aws | azure | gcp", Recursive = true };
    internal static readonly Option<string?> NameOption = new("--name") { Description = "which configured provider of that kind, when there are several", Recursive = true };
    internal static readonly Option<string> OutputOption = new("--output", "-o") { Description = "table | json", Recursive = true, DefaultValueFactory = _ => "table" };
    internal static readonly Option<bool> ShowSecretsOption = new("--show-secrets") { Description = "print private keys, SAS keys and tokens (never printed otherwise)", Recursive = true };

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        OutputOption.AcceptOnlyFromAmong("table", "json");
        ProviderOption.AcceptOnlyFromAmong("local", "aws", "azure", "gcp");
        var root = new RootCommand("iotm: operate an IoTMastery.Sdk fleet on Local, AWS IoT Core, Azure IoT Hub or GCP-style, and price its telemetry.")
        {
            ConfigOption, ProviderOption, NameOption, OutputOption, ShowSecretsOption,
        };
        root.Add(DevicesCommand(stdout, stderr));
        root.Add(CredsCommand(stdout, stderr));
        root.Add(StateCommand(stdout, stderr));
        root.Add(InvokeCommand(stdout, stderr));
        root.Add(TelemetryCommand(stdout, stderr));
        root.Add(FirmwareCommand(stdout, stderr));
        root.Add(CostCommand(stdout, stderr));
        root.Add(MigrateCommand(stdout, stderr));
        root.Add(ExportCommand(stdout, stderr));
        root.Add(SimulateCommand(stdout, stderr));
        var parse = root.Parse(args);
        var invocation = new InvocationConfiguration { Output = stdout, Error = stderr };
        // Parse errors are usage errors (exit 1), which is also System.CommandLine's own code for them.
        return await parse.InvokeAsync(invocation).ConfigureAwait(false);
    }

    /// <summary>What an action gets: the output, the configuration and (when it needs one) a started provider.</summary>
    internal sealed class Context(ParseResult parse, TextWriter stdout)
    {
        public ParseResult Parse { get; } = parse;
        public Output Output { get; } = new(parse.GetValue(OutputOption) == "json", stdout);
        public bool ShowSecrets { get; } = parse.GetValue(ShowSecretsOption);
        public IConfiguration Configuration { get; } = ProviderSession.LoadConfiguration(parse.GetValue(ConfigOption));
        public ProviderSession? Session { get; set; }
        public IIoTProvider Provider => Session!.Provider;
    }

    /// <summary>Runs an action with the one error mapping: a message on stderr (never a stack trace with secrets), the mapped exit code.</summary>
    internal static void SetAction(Command command, TextWriter stdout, TextWriter stderr, bool needsProvider,
        Func<Context, CancellationToken, Task<int>> action, Action<ParseResult>? validate = null)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            Context? context = null;
            try
            {
                // Input is checked before a provider starts: bad input never reaches the network or the disk.
                validate?.Invoke(parse);
                context = new Context(parse, stdout);
                if (needsProvider)
                {
                    var (kind, name, _) = ProviderSession.Select(context.Configuration, parse.GetValue(ProviderOption), parse.GetValue(NameOption));
                    context.Session = await ProviderSession.StartAsync(context.Configuration, kind, name, cancellationToken).ConfigureAwait(false);
                }
                return await action(context, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                var code = ExitCodes.For(e);
                var cause = ExitCodes.Unwrap(e);
                var message = code == ExitCodes.Interrupted ? "interrupted" : cause.Message;
                await stderr.WriteLineAsync($"iotm: {Describe(cause)}{message}").ConfigureAwait(false);
                return code;
            }
            finally
            {
                if (context?.Session is { } session) await session.DisposeAsync().ConfigureAwait(false);
            }
        });
    }

    private static string Describe(Exception e) => e switch
    {
        IoTException io => $"{io.Kind} ({io.Provider}{(io.ErrorCode is null ? "" : ", " + io.ErrorCode)}): ",
        ArgumentException or CliUsageException => "",
        _ => e.GetType().Name + ": ",
    };

    internal static Dictionary<string, string> ParsePairs(IEnumerable<string>? pairs, string option)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs ?? [])
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new ArgumentException($"{option} takes name=value; '{pair}' is not.", option);
            if (!result.TryAdd(pair[..eq], pair[(eq + 1)..])) throw new ArgumentException($"{option}: '{pair[..eq]}' is given twice.", option);
        }
        return result;
    }

    internal static JsonNode? ParseJson(string? text, string option)
    {
        if (text is null) return null;
        if (text.StartsWith('@'))
        {
            var path = text[1..];
            if (!File.Exists(path)) throw new ArgumentException($"{option}: the file '{path}' does not exist.", option);
            text = File.ReadAllText(path);
        }
        try
        {
            return JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ArgumentException($"{option} is not valid JSON: {e.Message}", option, e);
        }
    }
}
