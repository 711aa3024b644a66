using System.CommandLine;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Providers;

namespace IoTMastery.Sdk.Cli;

internal static partial class IotmApp
{
    /// <summary>
    /// <c>iotm firmware compliance</c>: the fleet's compliance report (<see cref="SecurityPatching"/>) from the provider's own
    /// firmware store, after importing OSV advisories when given, and the opt-in minimum-version enforcement.
    /// </summary>
    private static Command ComplianceCommand(TextWriter stdout, TextWriter stderr)
    {
        var advisories = new Option<string?>("--advisories") { Description = "OSV advisory file, or a directory whose *.json files are all imported, before the report" };
        var minimum = new Option<string?>("--minimum-version") { Description = "the fleet's minimum allowed version (semver); devices below it are listed" };
        var enforce = new Option<string?>("--enforce") { Description = "with --minimum-version: disable the devices below it, or restrict them to firmware-update traffic (Local only)" };
        enforce.AcceptOnlyFromAmong("disable", "restrict");
        var failOnAffected = new Option<bool>("--fail-on-affected") { Description = $"exit {ExitCodes.NonCompliant} when a device runs an affected version or one below --minimum-version" };
        var compliance = new Command("compliance", "devices by version, advisories with their affected devices and time-to-patch, devices below the minimum version")
        {
            advisories, minimum, enforce, failOnAffected,
        };
        // Read and checked before a provider starts, so a malformed advisory or version costs no connection and stores nothing.
        IReadOnlyList<string> AdvisoryFiles(ParseResult p)
        {
            if (p.GetValue(advisories) is not { } path) return [];
            var files = Directory.Exists(path) ? Directory.GetFiles(path, "*.json").Order(StringComparer.Ordinal).ToArray()
                : File.Exists(path) ? [path]
                : throw new ArgumentException($"--advisories: '{path}' is neither a file nor a directory.", "--advisories");
            if (files.Length == 0) throw new ArgumentException($"--advisories: the directory '{path}' holds no *.json file.", "--advisories");
            foreach (var file in files)
            {
                try
                {
                    SecurityPatching.ParseOsv(File.ReadAllBytes(file));
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"--advisories: '{file}' is not a valid OSV document: {e.Message}", "--advisories", e);
                }
            }
            return files;
        }
        string? MinimumVersion(ParseResult p)
        {
            if (p.GetValue(minimum) is not { } version)
            {
                if (p.GetValue(enforce) is not null) throw new CliUsageException("--enforce needs --minimum-version.");
                return null;
            }
            // The core's own SemVer parser (shared source), so a typo is refused with the SDK's rule before any connection.
            if (!FirmwareVersion.TryParse(version, out _))
                throw new ArgumentException($"--minimum-version: '{ErrorText.Escape(version, 80)}' is not a semantic version (SemVer 2.0.0: MAJOR.MINOR.PATCH[-pre.release][+build], no leading zeros), for example 1.4.3.", "--minimum-version");
            return version;
        }
        SetAction(compliance, stdout, stderr, false, async (c, ct) =>
        {
            var files = AdvisoryFiles(c.Parse);
            var minimumVersion = MinimumVersion(c.Parse);
            var (kind, name, section) = ProviderSession.Select(c.Configuration, c.Parse.GetValue(ProviderOption), c.Parse.GetValue(NameOption));
            // The advisories live beside the releases and rollouts the provider wrote: Local keeps them in its database.
            var storeKey = kind == "local" ? "DatabasePath" : "FirmwareStorePath";
            if (string.IsNullOrWhiteSpace(section[storeKey]))
                throw new CliUsageException($"{section.Path}:{storeKey} is required: the compliance report reads the provider's firmware store file.");
            c.Session = await ProviderSession.StartAsync(c.Configuration, kind, name, ct).ConfigureAwait(false);
            if (c.Parse.GetValue(enforce) == "restrict" && !c.Provider.Capabilities.FirmwareOnlyRestriction)
                throw new CliUsageException($"--enforce restrict: the {c.Provider.Name} provider cannot restrict devices to firmware-update traffic; use --enforce disable. Nothing was changed.");

            using var patching = SecurityPatching.Open(c.Provider, section[storeKey]!);
            var imported = new List<string>();
            foreach (var file in files)
                imported.AddRange((await patching.ImportOsvFileAsync(file, ct).ConfigureAwait(false)).Select(a => a.Id));
            var report = await patching.GetComplianceReportAsync(minimumVersion, ct).ConfigureAwait(false);
            IReadOnlyList<string>? enforced = c.Parse.GetValue(enforce) switch
            {
                "disable" => await patching.DisableDevicesBelowMinimumAsync(minimumVersion!, cancellationToken: ct).ConfigureAwait(false),
                "restrict" => await patching.RestrictDevicesBelowMinimumAsync(minimumVersion!, cancellationToken: ct).ConfigureAwait(false),
                _ => null,
            };

            if (c.Output.IsJson)
            {
                var json = JsonNode.Parse(report.ToJson())!.AsObject();
                json["imported"] = new JsonArray(imported.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray());
                if (enforced is not null)
                    json["enforced"] = new JsonObject { ["mode"] = c.Parse.GetValue(enforce), ["devices"] = new JsonArray(enforced.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()) };
                c.Output.Write(json, [], []);
            }
            else
            {
                if (imported.Count > 0) await c.Output.Writer.WriteLineAsync($"Imported advisories: {string.Join(", ", imported)}\n").ConfigureAwait(false);
                await c.Output.Writer.WriteAsync(report.ToTable()).ConfigureAwait(false);
                if (enforced is not null)
                {
                    var what = c.Parse.GetValue(enforce) == "disable" ? "Disabled" : "Restricted to firmware-update traffic";
                    await c.Output.Writer.WriteLineAsync($"\n{what}: {(enforced.Count == 0 ? "none" : string.Join(", ", enforced))}").ConfigureAwait(false);
                }
            }
            var nonCompliant = report.BelowMinimumVersion.Count > 0 || report.Advisories.Any(a => a.AffectedDevices.Count > 0);
            return c.Parse.GetValue(failOnAffected) && nonCompliant ? ExitCodes.NonCompliant : ExitCodes.Ok;
        }, p =>
        {
            AdvisoryFiles(p);
            MinimumVersion(p);
        });
        return compliance;
    }
}
