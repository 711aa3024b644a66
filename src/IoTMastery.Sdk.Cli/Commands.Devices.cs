using System.CommandLine;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Cli;

internal static partial class IotmApp
{
    private static Command DevicesCommand(TextWriter stdout, TextWriter stderr)
    {
        var devices = new Command("devices", "list, show, register, enable, disable and delete devices");

        var status = new Option<string?>("--status") { Description = "enabled | disabled" };
        status.AcceptOnlyFromAmong("enabled", "disabled");
        var attribute = new Option<string?>("--attribute") { Description = "only devices with this name=value attribute" };
        var limit = new Option<int?>("--limit") { Description = "stop after this many devices" };
        var pageSize = new Option<int?>("--page-size") { Description = "devices per request, 1-1000 (default 100)" };
        var pages = new Option<int?>("--pages") { Description = "stop after this many pages; the token to resume from is written to stderr" };
        var resume = new Option<string?>("--continuation-token") { Description = "resume after the page that printed this token" };
        var list = new Command("list", "list devices (all pages, or --pages of them)") { status, attribute, limit, pageSize, pages, resume };
        SetAction(list, stdout, stderr, true, async (c, ct) =>
        {
            var filter = c.Parse.GetValue(attribute) is { } a ? ParsePairs([a], "--attribute").Single() : (KeyValuePair<string, string>?)null;
            var query = new DeviceQuery
            {
                Enabled = c.Parse.GetValue(status) is { } s ? s == "enabled" : null, // AcceptOnlyFromAmong left only the two words
                AttributeName = filter?.Key,
                AttributeValue = filter?.Value,
                PageSize = c.Parse.GetValue(pageSize) ?? DeviceQuery.DefaultPageSize,
            };
            var max = c.Parse.GetValue(limit) ?? int.MaxValue;
            var maxPages = c.Parse.GetValue(pages) ?? int.MaxValue;
            var found = new List<Device>();
            string? next = null;
            var read = 0;
            // AsPages checks the token before any request, so a mistyped one fails as bad input, not as a service error.
            await foreach (var page in c.Provider.Registry.ListAsync(query, ct).AsPages(c.Parse.GetValue(resume)).WithCancellation(ct).ConfigureAwait(false))
            {
                found.AddRange(page.Items.Take(max - found.Count));
                next = page.ContinuationToken;
                if (found.Count >= max || ++read >= maxPages) break;
            }
            c.Output.Write(new JsonArray(found.Select(d => (JsonNode)Views.Device(d)).ToArray()),
                ["id", "status", "version", "attributes", "credentials"],
                found.Select(d => new[] { d.Id, Views.Status(d), d.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    string.Join(", ", d.Attributes.Select(p => $"{p.Key}={p.Value}")), d.Credentials.Count(x => !x.Revoked) + " active" }));
            // Only after whole pages: a --limit that cut a page short has no token that resumes exactly where it stopped.
            if (next is not null && read >= maxPages && found.Count < max)
                await stderr.WriteLineAsync($"iotm: more devices; resume with --continuation-token {next}").ConfigureAwait(false);
            return ExitCodes.Ok;
        }, p =>
        {
            if (p.GetValue(limit) is < 1) throw new ArgumentException("--limit must be at least 1.", "--limit");
            if (p.GetValue(pageSize) is < 1 or > 1000) throw new ArgumentException("--page-size must be between 1 and 1000.", "--page-size");
            if (p.GetValue(pages) is < 1) throw new ArgumentException("--pages must be at least 1.", "--pages");
            if (p.GetValue(attribute) is { } a) ParsePairs([a], "--attribute");
        });

        var id = new Argument<string>("device-id") { Description = "the device id" };
        var show = new Command("show", "show one device") { id };
        SetAction(show, stdout, stderr, true, async (c, ct) =>
        {
            c.Output.WriteObject(Views.Device(await c.Provider.Registry.GetAsync(c.Parse.GetValue(id)!, ct).ConfigureAwait(false)));
            return ExitCodes.Ok;
        });

        var regId = new Argument<string>("device-id") { Description = "the new device's id" };
        var attrs = new Option<string[]>("--attr") { Description = "name=value attribute (repeatable)", AllowMultipleArgumentsPerToken = false };
        var kind = new Option<string>("--credential") { Description = "x509 | symmetric-key | public-key | none (default: the provider's default kind)" };
        kind.AcceptOnlyFromAmong("x509", "symmetric-key", "public-key", "none");
        var outDir = new Option<string?>("--out") { Description = "folder for the credential bundle (owner-only files); only its path is printed" };
        var register = new Command("register", "register a device and issue its first credential") { regId, attrs, kind, outDir };
        SetAction(register, stdout, stderr, true, async (c, ct) =>
        {
            var deviceId = c.Parse.GetValue(regId)!;
            var request = CredentialFor(c.Parse.GetValue(kind), c.Provider);
            var result = await c.Provider.Registry.RegisterAsync(new DeviceRegistration
            {
                Id = deviceId,
                Attributes = ParsePairs(c.Parse.GetValue(attrs), "--attr"),
                Credential = request,
            }, ct).ConfigureAwait(false);
            var view = Views.Device(result.Device);
            if (result.Credential is { } issued)
            {
                var bundle = c.Parse.GetValue(outDir) is { } dir ? CredentialBundle.Write(dir, deviceId, c.Session!.Kind, issued) : null;
                view["issued"] = Views.Issued(issued, bundle, c.ShowSecrets);
            }
            c.Output.WriteObject(view);
            return ExitCodes.Ok;
        }, p =>
        {
            ParsePairs(p.GetValue(attrs), "--attr");
            CheckSecretsGoSomewhere(p, p.GetValue(kind) != "none", outDir, p.GetValue(regId)!);
        });

        devices.Add(list);
        devices.Add(show);
        devices.Add(register);
        devices.Add(StatusCommand("disable", (registry, deviceId, ct) => registry.DisableAsync(deviceId, ct), stdout, stderr));
        devices.Add(StatusCommand("enable", (registry, deviceId, ct) => registry.EnableAsync(deviceId, ct), stdout, stderr));

        var delId = new Argument<string>("device-id") { Description = "the device to delete" };
        var yes = new Option<bool>("--yes") { Description = "confirm: deleting a device removes its identity and credentials" };
        var delete = new Command("delete", "delete a device (needs --yes)") { delId, yes };
        SetAction(delete, stdout, stderr, true, async (c, ct) =>
        {
            var deviceId = c.Parse.GetValue(delId)!;
            await c.Provider.Registry.DeleteAsync(deviceId, ct).ConfigureAwait(false);
            c.Output.WriteObject(new JsonObject { ["id"] = deviceId, ["deleted"] = true });
            return ExitCodes.Ok;
        }, p =>
        {
            if (!p.GetValue(yes)) throw new CliUsageException("devices delete removes the device and its credentials: add --yes to confirm.");
        });
        devices.Add(delete);
        return devices;
    }

    private static Command StatusCommand(string verb, Func<IDeviceRegistry, string, CancellationToken, Task<Device>> apply, TextWriter stdout, TextWriter stderr)
    {
        var id = new Argument<string>("device-id") { Description = "the device" };
        var command = new Command(verb, $"{verb} a device (its connections are refused while disabled)") { id };
        SetAction(command, stdout, stderr, true, async (c, ct) =>
        {
            c.Output.WriteObject(Views.Device(await apply(c.Provider.Registry, c.Parse.GetValue(id)!, ct).ConfigureAwait(false)));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A credential holds a secret; refuse up front when it would have nowhere to go but the terminal or /dev/null.</summary>
    private static void CheckSecretsGoSomewhere(ParseResult p, bool issues, Option<string?> outDir, string deviceId)
    {
        if (!issues) return;
        if (p.GetValue(outDir) is { } dir) CredentialBundle.CheckTarget(dir, deviceId);
        else if (!p.GetValue(ShowSecretsOption))
            throw new CliUsageException("the new credential's secret would be lost: give --out <folder> (written owner-only, only the path is printed) or --show-secrets to print it.");
    }

    private static CredentialRequest? CredentialFor(string? kind, IIoTProvider provider) => kind switch
    {
        "none" => null,
        "x509" => new CredentialRequest { Kind = CredentialKind.X509Certificate },
        "symmetric-key" => new CredentialRequest { Kind = CredentialKind.SymmetricKey },
        "public-key" => new CredentialRequest { Kind = CredentialKind.PublicKey },
        _ => new CredentialRequest { Kind = provider.Capabilities.DefaultCredentialKind },
    };

    private static Command CredsCommand(TextWriter stdout, TextWriter stderr)
    {
        var creds = new Command("creds", "rotate and revoke device credentials");

        var rotId = new Argument<string>("device-id") { Description = "the device" };
        var rotCred = new Option<string?>("--credential-id") { Description = "which credential (default: the device's only active one)" };
        var outDir = new Option<string?>("--out") { Description = "folder for the new credential bundle (owner-only files)" };
        var rotate = new Command("rotate", "issue a new credential and retire the old one") { rotId, rotCred, outDir };
        SetAction(rotate, stdout, stderr, true, async (c, ct) =>
        {
            var deviceId = c.Parse.GetValue(rotId)!;
            var credentialId = c.Parse.GetValue(rotCred) ?? await OnlyActiveCredentialAsync(c.Provider, deviceId, ct).ConfigureAwait(false);
            var issued = await c.Provider.Registry.RotateCredentialAsync(deviceId, credentialId, null, ct).ConfigureAwait(false);
            var bundle = c.Parse.GetValue(outDir) is { } dir ? CredentialBundle.Write(dir, deviceId, c.Session!.Kind, issued) : null;
            var view = Views.Issued(issued, bundle, c.ShowSecrets);
            view["deviceId"] = deviceId;
            view["replaced"] = credentialId;
            c.Output.WriteObject(view);
            return ExitCodes.Ok;
        }, p => CheckSecretsGoSomewhere(p, true, outDir, p.GetValue(rotId)!));

        var revId = new Argument<string>("device-id") { Description = "the device" };
        var revCred = new Option<string?>("--credential-id") { Description = "which credential (default: the device's only active one)" };
        var revoke = new Command("revoke", "revoke a credential: refused at connect, live connections closed") { revId, revCred };
        SetAction(revoke, stdout, stderr, true, async (c, ct) =>
        {
            var deviceId = c.Parse.GetValue(revId)!;
            var credentialId = c.Parse.GetValue(revCred) ?? await OnlyActiveCredentialAsync(c.Provider, deviceId, ct).ConfigureAwait(false);
            await c.Provider.Registry.RevokeCredentialAsync(deviceId, credentialId, ct).ConfigureAwait(false);
            c.Output.WriteObject(new JsonObject { ["deviceId"] = deviceId, ["credentialId"] = credentialId, ["revoked"] = true });
            return ExitCodes.Ok;
        });
        creds.Add(rotate);
        creds.Add(revoke);
        return creds;
    }

    private static async Task<string> OnlyActiveCredentialAsync(IIoTProvider provider, string deviceId, CancellationToken ct)
    {
        var device = await provider.Registry.GetAsync(deviceId, ct).ConfigureAwait(false);
        var active = device.Credentials.Where(x => !x.Revoked).ToArray();
        return active.Length switch
        {
            1 => active[0].Id,
            0 => throw new CliUsageException($"Device '{deviceId}' has no active credential; name one with --credential-id."),
            _ => throw new CliUsageException($"Device '{deviceId}' has {active.Length} active credentials ({string.Join(", ", active.Select(a => a.Id))}): choose one with --credential-id."),
        };
    }
}
