using System.CommandLine;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Cli;

internal static partial class IotmApp
{
    private static Command MigrateCommand(TextWriter stdout, TextWriter stderr)
    {
        var from = new Option<string>("--from") { Description = "source: local|aws|azure|gcp, or kind:name", Required = true };
        var to = new Option<string>("--to") { Description = "target: local|aws|azure|gcp, or kind:name", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "print the plan (what would be created) and change nothing" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "file recording migrated devices, so a rerun resumes (default: <out>/migrate.checkpoint)" };
        var outDir = new Option<string?>("--out") { Description = "folder for the new credential bundles on the target (owner-only)" };
        var migrate = new Command("migrate", "copy devices (attributes, status, desired state, new credentials) and firmware releases to another provider; resumable")
        {
            from, to, dryRun, checkpoint, outDir,
        };
        static (string Kind, string? Name) Split(string value) =>
            value.IndexOf(':', StringComparison.Ordinal) is var i and > 0 ? (value[..i], value[(i + 1)..]) : (value, null);
        SetAction(migrate, stdout, stderr, false, async (c, ct) =>
        {
            var (fromKind, fromName) = Split(c.Parse.GetValue(from)!);
            var (toKind, toName) = Split(c.Parse.GetValue(to)!);
            var a = ProviderSession.Select(c.Configuration, fromKind, fromName);
            var b = ProviderSession.Select(c.Configuration, toKind, toName);
            if (a.Section.Path == b.Section.Path) throw new CliUsageException($"--from and --to are the same provider ({a.Section.Path}).");
            await using var source = await ProviderSession.StartAsync(c.Configuration, a.Kind, a.Name, ct).ConfigureAwait(false);
            await using var target = await ProviderSession.StartAsync(c.Configuration, b.Kind, b.Name, ct).ConfigureAwait(false);
            var migration = new Migration(source, target);
            if (c.Parse.GetValue(dryRun))
            {
                var plan = await migration.PlanAsync(ct).ConfigureAwait(false);
                c.Output.Write(new JsonArray(plan.Select(p => (JsonNode)new JsonObject { ["kind"] = p.Kind, ["id"] = p.Id, ["action"] = p.Action }).ToArray()),
                    ["kind", "id", "action"], plan.Select(p => new[] { p.Kind, p.Id, p.Action }));
                return ExitCodes.Ok;
            }
            var dir = c.Parse.GetValue(outDir)!;
            var report = await migration.RunAsync(dir, c.Parse.GetValue(checkpoint) ?? Path.Combine(dir, "migrate.checkpoint"), ct).ConfigureAwait(false);
            c.Output.WriteObject(new JsonObject
            {
                ["from"] = a.Section.Path, ["to"] = b.Section.Path,
                ["devicesCreated"] = report.Created, ["devicesRecovered"] = report.Recovered, ["devicesAlreadyDone"] = report.AlreadyDone,
                ["releasesCreated"] = report.ReleasesCreated, ["releasesExisting"] = report.ReleasesExisting,
                ["bundles"] = Path.GetFullPath(dir),
            });
            return ExitCodes.Ok;
        }, p =>
        {
            if (!p.GetValue(dryRun))
            {
                if (p.GetValue(outDir) is not { } dir) throw new CliUsageException("migrate issues a new credential per device on the target: give --out <folder> for the bundles (or --dry-run).");
                CredentialBundle.CheckTarget(dir, "probe");
            }
        });
        return migrate;
    }
}
