using System.Text;

namespace IoTMastery.Sdk.Cli;

/// <summary>
/// Copies a fleet from one provider to another: firmware releases, then each device (attributes, status, desired state,
/// and a new credential issued by the target, written as an owner-only bundle). Every finished device is appended to a
/// checkpoint file and flushed to disk, so a rerun after a crash skips it; a device the crash left half-made on the target
/// (created, but its bundle never written) gets its unsaved credentials revoked and a new one, so each device ends
/// migrated exactly once, with exactly one usable credential whose key is on disk.
/// </summary>
internal sealed class Migration(ProviderSession source, ProviderSession target)
{
    internal sealed record PlanItem(string Kind, string Id, string Action);

    internal sealed record Report(int Created, int Recovered, int AlreadyDone, int ReleasesCreated, int ReleasesExisting);

    public async Task<IReadOnlyList<PlanItem>> PlanAsync(CancellationToken ct)
    {
        var plan = new List<PlanItem>();
        await foreach (var release in source.Provider.Firmware.ListReleasesAsync(ct).ConfigureAwait(false))
            plan.Add(new PlanItem("release", release.Version, await ExistsAsync(() => target.Provider.Firmware.GetReleaseAsync(release.Version, ct)).ConfigureAwait(false) ? "exists on target" : "create"));
        var rules = target.Provider.DeviceIdRules;
        await foreach (var device in source.Provider.Registry.ListAsync(null, ct).ConfigureAwait(false))
            plan.Add(new PlanItem("device", device.Id, !rules.IsValid(device.Id)
                ? $"cannot migrate: the id breaks {rules.Provider}'s rule ({rules.Description})"
                : await ExistsAsync(() => target.Provider.Registry.GetAsync(device.Id, ct)).ConfigureAwait(false)
                ? "exists on target (re-credentialed unless checkpointed)"
                : $"create ({Views.Status(device)}, {device.Attributes.Count} attributes, new {Views.Lower(target.Provider.Capabilities.DefaultCredentialKind)})"));
        return plan;
    }

    /// <summary>
    /// Device id rules differ per cloud (a GCP-style <c>pump+1</c> is no Azure id, an Azure <c>pump.1</c> no AWS thing name):
    /// such a fleet is refused before anything is created, rather than half-copied up to the first id the target rejects.
    /// </summary>
    private void CheckIds(IReadOnlyList<Device> devices)
    {
        var rules = target.Provider.DeviceIdRules;
        var invalid = devices.Where(d => !rules.IsValid(d.Id)).Select(d => d.Id).ToList();
        if (invalid.Count == 0) return;
        throw new ArgumentException(
            $"{invalid.Count} device id(s) break {rules.Provider}'s rule ({rules.Description}): {string.Join(", ", invalid.Take(10))}{(invalid.Count > 10 ? ", ..." : "")}. " +
            "Nothing was migrated; rename them on the source first.", "--to");
    }

    public async Task<Report> RunAsync(string outDir, string checkpointPath, CancellationToken ct)
    {
        var done = ReadCheckpoint(checkpointPath);
        int releasesCreated = 0, releasesExisting = 0, created = 0, recovered = 0, already = 0;
        var devices = new List<Device>();
        await foreach (var d in source.Provider.Registry.ListAsync(null, ct).ConfigureAwait(false)) devices.Add(d);
        CheckIds(devices);
        await foreach (var release in source.Provider.Firmware.ListReleasesAsync(ct).ConfigureAwait(false))
        {
            // Creating a release that exists with the same image succeeds (it is idempotent), so only a look first tells
            // the report the truth; one that exists with a different image fails the migration (exit 3) rather than
            // leaving devices to be offered an image the source never had under that version.
            var existed = await ExistsAsync(() => target.Provider.Firmware.GetReleaseAsync(release.Version, ct)).ConfigureAwait(false);
            await target.Provider.Firmware.CreateReleaseAsync(release, ct).ConfigureAwait(false);
            if (existed) releasesExisting++;
            else releasesCreated++;
        }

        OwnerOnlyCheckpoint.EnsureExists(checkpointPath);
        foreach (var device in devices.OrderBy(d => d.Id, StringComparer.Ordinal))
        {
            if (done.Contains(device.Id))
            {
                already++;
                continue;
            }
            IssuedCredential issued;
            var request = new CredentialRequest { Kind = target.Provider.Capabilities.DefaultCredentialKind };
            try
            {
                var result = await target.Provider.Registry.RegisterAsync(new DeviceRegistration { Id = device.Id, Attributes = device.Attributes, Credential = request }, ct).ConfigureAwait(false);
                issued = result.Credential!;
                created++;
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.AlreadyExists)
            {
                // A previous run created it and died before its checkpoint line: whatever it issued never reached a bundle.
                var existing = await target.Provider.Registry.GetAsync(device.Id, ct).ConfigureAwait(false);
                foreach (var credential in existing.Credentials.Where(x => !x.Revoked))
                    await target.Provider.Registry.RevokeCredentialAsync(device.Id, credential.Id, ct).ConfigureAwait(false);
                issued = await target.Provider.Registry.IssueCredentialAsync(device.Id, request, ct).ConfigureAwait(false);
                // Where registering is several calls (IoT Hub: the identity, then the twin's tags), the crash may have come
                // between them: put back what the source says, and drop what it does not.
                if (!SameAttributes(existing.Attributes, device.Attributes))
                {
                    var update = device.Attributes.ToDictionary(a => a.Key, a => (string?)a.Value, StringComparer.Ordinal);
                    foreach (var stale in existing.Attributes.Keys.Where(k => !device.Attributes.ContainsKey(k))) update[stale] = null;
                    await target.Provider.Registry.UpdateAsync(device.Id, update, cancellationToken: ct).ConfigureAwait(false);
                }
                recovered++;
            }
            CredentialBundle.Write(outDir, device.Id, target.Kind, issued);

            var state = await source.Provider.State.GetAsync(device.Id, ct).ConfigureAwait(false);
            if (state.Desired.Count > 0)
                await target.Provider.State.UpdateDesiredAsync(device.Id, (System.Text.Json.Nodes.JsonObject)state.Desired.DeepClone(), null, ct).ConfigureAwait(false);
            if (!device.Enabled)
                await target.Provider.Registry.DisableAsync(device.Id, ct).ConfigureAwait(false);
            OwnerOnlyCheckpoint.Append(checkpointPath, device.Id);
        }
        return new Report(created, recovered, already, releasesCreated, releasesExisting);
    }

    private static bool SameAttributes(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b) =>
        a.Count == b.Count && a.All(p => b.TryGetValue(p.Key, out var v) && v == p.Value);

    // Only complete lines count: a crash mid-append can leave "pump-1" of "pump-10", which must not mark pump-1 done.
    private static HashSet<string> ReadCheckpoint(string path) =>
        File.Exists(path)
            ? File.ReadAllText(path).Split('\n')[..^1].Where(l => l.Length > 0).ToHashSet(StringComparer.Ordinal)
            : new HashSet<string>(StringComparer.Ordinal);

    private static async Task<bool> ExistsAsync<T>(Func<Task<T>> get)
    {
        try
        {
            await get().ConfigureAwait(false);
            return true;
        }
        catch (IoTException ex) when (ex.Kind is IoTErrorKind.NotFound or IoTErrorKind.DeviceNotFound)
        {
            return false;
        }
    }

    /// <summary>The checkpoint: one finished device id per line, appended and flushed to disk before the next device starts.</summary>
    private static class OwnerOnlyCheckpoint
    {
        public static void EnsureExists(string path)
        {
            if (File.Exists(path))
            {
                // End a torn last line, so the next id does not run into it.
                var text = File.ReadAllText(path);
                if (text.Length > 0 && text[^1] != '\n') File.AppendAllText(path, "\n");
                return;
            }
            IoTMastery.Sdk.OwnerOnlyFiles.CreateFolderFor(Path.GetFullPath(path));
            IoTMastery.Sdk.OwnerOnlyFiles.WriteNew(path, "");
        }

        public static void Append(string path, string deviceId)
        {
            using var stream = new FileStream(path, FileMode.Append, FileAccess.Write);
            stream.Write(Encoding.UTF8.GetBytes(deviceId + "\n"));
            // A line torn by a crash has no newline yet and is ignored on resume (ReadCheckpoint).
            stream.Flush(flushToDisk: true);
        }
    }
}
